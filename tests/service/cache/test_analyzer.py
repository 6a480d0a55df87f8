"""Variation and semantic matchers with the reference pack: pairs that must match and must not.

These tables are the reference product's regression tests: they hold its pack
(``loadtests/workload/pack.yaml``) to what each entry is there for. What English alone reads,
with no pack, is tested at the end.
"""

from __future__ import annotations

import pytest

from loadtests.workload import PACK_FILE, Workload
from service.cache.analyzer import Analyzer
from service.cache.guards import passes_guards
from service.cache.pack import load_pack
from service.cache.semantic import DEFAULT_THRESHOLD, SemanticIndex

READER = Analyzer(load_pack(PACK_FILE))
ENGLISH = Analyzer()
CATEGORIES = tuple(READER.pack.categories)
analyse = READER.analyse
variation_key = READER.variation_key

VARIATIONS = [  # same canonical key: recognised paraphrase, synonym or word order
    ("How much does the Pro plan cost?", "What's the price of the Pro plan?"),
    ("How much does the Pro plan cost?", "how much is pro"),
    ("How do I contact support?", "How do I get in touch with support?"),
    ("How do I contact support?", "How can I reach customer support?"),
    ("How do I cancel my subscription?", "What are the steps to cancel my subscription?"),
    ("Where do I find my API key?", "Where can I get my API key?"),
    ("How do I set up webhooks?", "How can I configure webhooks?"),
    ("Do you offer a free trial?", "Is there a free trial?"),
    ("How do I export all my data?", "How can I download all of my data?"),
    ("How do I delete my account?", "How can I remove my account?"),
    ("How long does a refund take?", "How much time does a refund take?"),
    ("How long does a refund take?", "How many days does a refund take?"),  # a duration
    ("How long does a refund take?", "How many business days does a refund take?"),
    # An intention, however it is said, is one marker; "plan" there is not the pricing plan.
    ("Do you plan to add a mobile app?", "Are you planning to add a mobile app?"),
    ("Do you plan to add a mobile app?", "Are there plans to add a mobile app?"),
    # "support" after a subject is the verb "offer", not the support team.
    ("Do you support SSO?", "Does Nimbus support SSO?"),
    ("Do you support SSO?", "Does it support SSO?"),
    ("Which integrations do you support?", "Which integrations does Nimbus support?"),
    # The product vocabulary: words a SaaS product's users use for the same thing.
    ("How do I cancel my subscription?", "How can I stop my subscription?"),
    ("How do I cancel my subscription?", "How do I end my subscription?"),
    ("Do you have a mobile app?", "Is there an app for smartphones?"),
    ("How do I delete my account?", "How do I close my account?"),  # an account closes for good
    ("Is there a free trial?", "Can I try Nimbus for free?"),
    ("How much does the Pro plan cost?", "How much is the Pro plan?"),
    ("How do I contact support?", "How can I talk with customer service?"),
    ("Do you have a mobile app?", "Do you have a phone app?"),
    ("Can I get a refund?", "Can I get my money back?"),
    ("Can I change my billing email?", "Can I edit my billing email?"),
    ("How long is the free trial?", "What is the duration of the free trial?"),
    # Title case: capitals say nothing there, so the words the lexicon drops stay dropped.
    ("Where do I find my API key?", "Where Can I Get My API Key?"),
    ("How do I cancel my subscription?", "How Do I End My Subscription?"),
]
NEAR_MISSES = [  # must never share a key nor match semantically
    ("How much is the Pro plan?", "What is in the Pro plan?"),
    ("How much does the Pro plan cost?", "How much does the Team plan cost?"),
    ("Can I get a refund after 30 days?", "Can I get a refund after 60 days?"),
    ("Is my data used to train the model?", "Is my data not used to train the model?"),
    ("Does Nimbus integrate with Slack?", "Does Nimbus integrate with Zoom?"),
    ("How do I install the Python SDK?", "How do I uninstall the Python SDK?"),
    ("How do I install the Python SDK?", "How do I install the JavaScript SDK?"),
    ("Which integrations do you support?", "Which integrations do you plan to support?"),
    ("Can I move my Asana data into Trello?", "Can I move my Trello data into Asana?"),
    ("can i move my asana data into trello", "can i move my trello data into asana"),
    ("How do I stream responses from the API?", "How do I stop streaming responses from the API?"),
    ("Where do I find my API key?", "How do I reset my API key?"),
    ("Where is my data stored?", "How long is my data stored?"),
    ("What is the maximum file upload size?", "What is the maximum number of files I can upload?"),
    ("How do I delete webhooks?", "How do I set up webhooks?"),
    ("contact support", "When can I reach support?"),
    ("How much does the data export cost?", "How much time does the data export take?"),
    ("Do you support SSO?", "Do you plan to support SSO?"),
    ("How many seats does the Team plan include?", "How long does the Team plan last?"),
    ("How do I contact support?", "Do you support Zendesk?"),
    ("How do I cancel my subscription?", "How do I pause my subscription?"),
    # "end" is "cancel" only as a verb.
    ("How do I cancel my subscription?", "What happens at the end of my subscription?"),
    ("How many seats does the Team plan include?", "How many end users can the Team plan serve?"),
    ("Do you have a mobile app?", "Do you have a desktop app?"),
    ("How do I cancel my subscription?", "How do I upgrade my subscription?"),
    # "end" and "stop" are "cancel" only with an object: a trial that ends is not cancelled.
    ("When does my trial end?", "When can I cancel my trial?"),
    ("When does my subscription stop?", "When can I cancel my subscription?"),
    ("Do you offer end-to-end encryption?", "Can I stop encryption?"),
    ("Is there phone support?", "Is there mobile support?"),  # a call centre, not the app
    ("Can I use Nimbus offline?", "Is Nimbus offline?"),  # a feature, not an outage
    ("How do I use the widget?", "How do I get the widget?"),
    ("Do you update the model?", "Can I change the model?"),
    ("Can I pay with another card?", "Can I pay with a card?"),
    # Words a SaaS user may swap that still ask for another answer (a red-team review).
    ("How do I get hold of my invoices?", "How do I contact billing?"),
    ("How do I remove a user?", "How do I remove a seat?"),  # a person, not a paid seat
    ("How many users does Nimbus have in total?", "How many seats do I have in total?"),
    ("How do I activate my license?", "How do I activate a user?"),
    ("Can I get a refund on my invoice?", "Can I get a receipt for my refund?"),
    ("Where do I cancel my plan?", "Where is the cancellation policy for my plan?"),
    ("Where can I get the mobile app?", "Which countries is the mobile app available in?"),
    ("What is the length of an API key?", "How soon can I get an API key?"),
    ("Can Nimbus terminate my account?", "Can I cancel my account?"),
    ("Is there a helpdesk integration?", "Is there support for integrations?"),
    ("How do I get admin access?", "How do I give admin access?"),
    ("Is there account recovery?", "Can I restore my account?"),
    ("Can the assistant speak to my customers in Spanish?",
     "Can the assistant contact my customers in Spanish?"),
    ("How do I unsubscribe from your emails?", "How do I cancel my subscription?"),
    ("What are the limitations of the Free plan?", "What are the limits of the Free plan?"),
    # Older lexicon entries a second red-team review caught merging questions.
    ("Do you train your AI on my data?", "Can I train the AI on my data?"),  # who trains
    ("Can Nimbus staff access my account?", "Can my staff access my account?"),
    ("Can your employees see my conversations?", "Can I see my employees' conversations?"),
    ("How do I close a ticket?", "How do I delete a ticket?"),  # resolve is not delete
    ("When do you charge for extra seats?", "How much do extra seats cost?"),  # a time first
    ("Why did the price of Pro go up?", "How much is Pro?"),
    ("How much storage do I get on Pro?", "What is the price of storage on Pro?"),
    ("How long can I use Nimbus for free?", "How long can I use the trial?"),  # plan vs trial
    ("Do you host data on your own servers?", "Can I host data on my own servers?"),
    ("Why is there a hold on my card?", "Why do you store my card?"),
    ("Where are my saved replies?", "Where are the answers stored?"),
    ("Does the bot have quick replies?", "Does the bot reply immediately?"),
    ("How fast is the mobile app?", "When will the mobile app be available?"),
    ("What are the SSO options on Enterprise?", "What are the SSO steps on Enterprise?"),
    ("Can I back up my data?", "Can I get my data back?"),
    ("How do I opt out of AI training?", "How do I opt in to AI training?"),
    ("Can I add a conversation starter?", "Can I add conversations on Starter?"),
    # A capitalised word the lexicon would drop as a verb is a name here (Make, the automation
    # tool): one side asks about it, the other does not.
    ("Can I connect Nimbus to Make?", "Can I connect Nimbus?"),
    ("Is there a Make integration?", "Is there an integration?"),
    ("Does Make work with Nimbus?", "Does Zapier work with Nimbus?"),
]
SEMANTIC_HITS = [  # not the same canonical key, but the same question
    ("How do I reset my password?", "How do I reset my pasword?"),  # typo
    ("How do I contact support?", "contact support"),  # bare keywords
    ("What are the API rate limits?", "What are the API rate limts?"),
    ("Are you GDPR compliant?", "Do you comply with GDPR?"),  # no category: no variation key
]


def _semantic(stored: str, asked: str) -> list:
    index = SemanticIndex(max_docs=100)
    index.add("scope", "entry", analyse(stored))
    return index.search("scope", analyse(asked))


@pytest.mark.parametrize(("a", "b"), VARIATIONS)
def test_variations_share_a_canonical_key(a: str, b: str) -> None:
    key = variation_key(analyse(a))
    assert key is not None and key == variation_key(analyse(b))
    assert key.split("|")[0] in CATEGORIES


@pytest.mark.parametrize(("a", "b"), NEAR_MISSES)
def test_near_misses_never_match(a: str, b: str) -> None:
    key = variation_key(analyse(a))
    assert key is None or key != variation_key(analyse(b))
    assert _semantic(a, b) == [] and _semantic(b, a) == []


@pytest.mark.parametrize(("stored", "asked"), SEMANTIC_HITS)
def test_semantic_matches_with_score(stored: str, asked: str) -> None:
    matches = _semantic(stored, asked)
    assert matches, f"{asked!r} should match {stored!r}"
    assert DEFAULT_THRESHOLD <= matches[0].score <= 1.0


QUESTION_FORMS = [  # the same question asked in another form: how / what / yes-no
    ("Can I export my data?", "How do I download all my data?"),
    ("What is the maximum file size I can upload?", "Is there a maximum upload file size?"),
]
ANSWER_TYPES = [  # another kind of answer, whatever the words: never one for the other
    ("Where is my data stored?", "How long is my data stored?"),  # a place, a time
    ("How much does the Pro plan cost?", "What is in the Pro plan?"),  # a price, a thing
    ("Why are some answers slow?", "How are answers generated?"),  # a reason, a way
]


DIRECTIONS = [  # (a, b, whether one may answer the other): a direction matters when it conflicts
    ("Can I move my data into Trello?", "Can I move my data to Trello?", True),  # into is to
    ("How do I send alerts to Slack?", "How do I send alerts to my Slack?", True),  # "my" skipped
    ("How do I send alerts to Slack?", "How do I send alerts to our Slack?", True),
    # A word that is a destination on one side only: the other side may mean the opposite.
    ("How do I sync Asana with Trello?", "How do I sync Asana to Trello?", False),
    ("Can I export my data to Slack?", "Can I export my Slack data?", False),
    ("Can I move my issues to GitHub?", "Can I move my GitHub issues?", False),
    ("Can I switch from monthly to annual billing?", "Can I switch from annual to monthly billing?",
     False),  # the same words in the other roles
    ("Can I switch from monthly to annual billing?", "Can I switch to monthly billing?", False),
    ("Can I import data from Asana?", "Can I import data into Asana?", False),
    ("How do I send alerts to Slack?", "How do I send alerts from Slack?", False),
    ("can i move my asana data into trello", "can i move my trello data into asana", False),
    # "make" is read as a verb, so only one side says where the reports come from.
    ("can i copy reports from tableau to make", "Can I copy reports from Make to Tableau", False),
]


@pytest.mark.parametrize(("a", "b", "agree"), DIRECTIONS)
def test_directions_refuse_only_when_they_conflict(a: str, b: str, agree: bool) -> None:
    for asked, stored in ((a, b), (b, a)):
        assert passes_guards(analyse(asked), analyse(stored), any_form=True) is agree


@pytest.mark.parametrize(("stored", "asked"), QUESTION_FORMS)
def test_question_forms_agree_only_when_a_backend_asks(stored: str, asked: str) -> None:
    assert not passes_guards(analyse(asked), analyse(stored))  # the lexical model's rule
    assert passes_guards(analyse(asked), analyse(stored), any_form=True)


@pytest.mark.parametrize(("stored", "asked"), ANSWER_TYPES)
def test_answer_types_never_agree(stored: str, asked: str) -> None:
    for a, b in ((asked, stored), (stored, asked)):
        assert not passes_guards(analyse(a), analyse(b), any_form=True)


def test_semantic_search_stays_in_its_scope() -> None:
    index = SemanticIndex(max_docs=100)
    index.add("tenant-a", "entry", analyse("How do I reset my password?"))
    assert index.search("tenant-b", analyse("How do I reset my pasword?")) == []


def test_semantic_index_is_bounded() -> None:
    index = SemanticIndex(max_docs=3)
    for i in range(5):
        index.add("scope", f"e{i}", analyse(f"Does Nimbus integrate with Tool{i}?"))
    assert len(index) == 3
    assert index.search("scope", analyse("Does Nimbus integrate with Tool0?")) == []


@pytest.mark.parametrize(("question", "markers"), [
    ("Do you plan to add a mobile app?", {"FUTURE"}),
    ("Is Nimbus going to support SAML?", {"FUTURE"}),
    ("Can I change my plan to Pro?", set()),  # the pricing plan, not an intention
    ("How do I move my plan to annual billing?", set()),
    ("How many seats can I add?", {"QUANTITY"}),
    ("How many days is the free trial?", set()),  # a duration: a time question
])
def test_markers_are_read_in_context(question: str, markers: set[str]) -> None:
    assert analyse(question).markers == markers


@pytest.mark.parametrize(("question", "refers_back"), [
    ("And for the Team plan?", True),
    ("How long does it last?", True),
    ("Which providers?", True),
    ("How much does the Pro plan cost?", False),
    ("how much is pro", False),
    ("Do you offer a discount for annual billing?", False),
    ("Can I opt out?", True),  # opt out of what: only the conversation says
])
def test_follow_ups_are_recognised(question: str, refers_back: bool) -> None:
    assert analyse(question).refers_back is refers_back


@pytest.mark.parametrize(("question", "category"), [
    # Category words match the stems questions are compared by ("integrate" is "integrat").
    ("Which integrations do you support?", "features"),
    ("Which languages are included?", "features"),
    ("Is there an offline mode on mobile?", "features"),
    ("How do I contact support?", "support"),
    ("How much does the Pro plan cost?", "pricing"),
])
def test_questions_fall_into_their_category(question: str, category: str) -> None:
    assert analyse(question).category == category


# --- English alone: what every user gets with no pack --------------------------------------------
GENERIC_NEAR_MISSES = [  # no pack knows these words: grammar, names and numbers keep them apart
    ("Can I get a refund after 30 days?", "Can I get a refund after 60 days?"),
    ("Is my data used to train the model?", "Is my data not used to train the model?"),
    ("Does it integrate with Slack?", "Does it integrate with Zoom?"),
    ("Can I move my Asana data into Trello?", "Can I move my Trello data into Asana?"),
    ("Where is my data stored?", "How long is my data stored?"),
    ("How do I sign in?", "How do I sign out?"),
    ("How do I opt in to emails?", "How do I opt out of emails?"),
    ("Which integrations do you support?", "Which integrations are you going to support?"),
]
GENERIC_VARIATIONS = [  # the same words in another order, form or politeness
    ("How do I reset my password?", "how can i reset my password please"),
    ("Where can I download my invoices?", "where can i download invoices"),
    ("How long does a refund take?", "How many days does a refund take?"),
    ("Can I export my reports?", "Is it possible to export my reports?"),
]


@pytest.mark.parametrize(("a", "b"), GENERIC_NEAR_MISSES)
def test_english_alone_keeps_near_misses_apart(a: str, b: str) -> None:
    key = ENGLISH.variation_key(ENGLISH.analyse(a))
    assert key is None or key != ENGLISH.variation_key(ENGLISH.analyse(b))
    for asked, stored in ((a, b), (b, a)):
        assert not passes_guards(ENGLISH.analyse(asked), ENGLISH.analyse(stored), any_form=True)


@pytest.mark.parametrize(("a", "b"), GENERIC_VARIATIONS)
def test_english_alone_reads_rephrasings_alike(a: str, b: str) -> None:
    key = ENGLISH.variation_key(ENGLISH.analyse(a))
    assert key is not None and key == ENGLISH.variation_key(ENGLISH.analyse(b))


def test_english_alone_has_no_categories_and_no_follow_ups() -> None:
    analysis = ENGLISH.analyse("How much does the Pro plan cost?")
    assert analysis.category is None and ENGLISH.follow_ups(analysis) == ()
    assert analysis.intent == "cost" and analysis.entities == {"pro"}  # "Pro", as written


def test_two_analyzers_read_with_their_own_pack() -> None:
    """No process-wide vocabulary: a cache with the pack and one without, side by side."""
    a, b = "How do I end my subscription?", "How do I cancel my subscription?"
    assert READER.variation_key(READER.analyse(a)) == READER.variation_key(READER.analyse(b))
    assert ENGLISH.variation_key(ENGLISH.analyse(a)) != ENGLISH.variation_key(ENGLISH.analyse(b))


def test_the_service_holds_no_product() -> None:
    """The reference product's name and questions live in its pack and workload, not here."""
    from pathlib import Path

    service = Path(__file__).parents[3] / "service"
    text = "\n".join(p.read_text(encoding="utf-8").casefold()
                     for p in service.rglob("*") if p.suffix in {".py", ".yaml", ".html", ".js"})
    assert "nimbus" not in text
    questions = [c.question for c in Workload.load().canonical]
    assert questions and not [q for q in questions if q.casefold() in text]
