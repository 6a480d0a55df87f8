"""What the matchers know about English questions to a product assistant: data, no logic.

Phrase rewrites and synonyms turn paraphrases into one vocabulary; the marker tokens (``NEG``,
``FUTURE``, ``QUANTITY``) carry meaning the guards compare; the category words sort questions
into the five categories; the follow-ups are what people typically ask next in a category.
Kept apart from the code so a product team can extend the vocabulary without reading it.
"""

from __future__ import annotations

__all__ = [
    "CATEGORY_FOLLOW_UPS",
    "CATEGORY_WORDS",
    "DETERMINERS",
    "ENTITY_WORDS",
    "INTENT_WORDS",
    "MARKERS",
    "PHRASES",
    "PRICE_AFTER_HOW_MUCH",
    "PRODUCT_WORDS",
    "REFERS_BACK_START",
    "REFERS_BACK_WORDS",
    "STOPWORDS",
    "SUBJECTS",
    "SYNONYMS",
    "VERB_READINGS",
    "YES_NO_OPENERS",
]

# Multi-word rewrites, applied longest first on normalised words. Upper-case results are markers.
PHRASES: dict[tuple[str, ...], tuple[str, ...]] = {
    ("how", "much", "of"): ("QUANTITY",),
    ("how", "many"): ("QUANTITY",),
    # A count of time units asks for a duration, as "how long" does.
    **{("how", "many", *unit.split()): ("when",)
       for unit in ("minutes", "hours", "days", "business days", "weeks", "months", "years")},
    ("how", "big"): ("size",),
    ("how", "large"): ("size",),
    ("how", "far", "back"): ("QUANTITY",),
    ("how", "long"): ("when",),
    ("how", "much", "time"): ("when",),
    # Speed is its own kind of answer: "How fast is the app?" is not "When will the app come?".
    ("how", "fast"): ("speed",),
    ("how", "quickly"): ("speed",),
    ("how", "soon"): ("when",),
    ("how", "much"): ("cost",),
    ("how", "come"): ("why",),
    ("how", "to"): ("how",),
    ("what", "are", "steps", "to"): ("how",),
    ("what", "is", "way", "to"): ("how",),
    ("what", "is", "best", "way", "to"): ("how",),
    ("what", "is", "process", "to"): ("how",),
    ("free", "trial"): ("trial",),
    ("trial", "period"): ("trial",),
    # "for free" is the Free plan ("What can I do for free?"), except when trying it out.
    ("for", "free"): ("plan_free",),
    **{("try", *it, "for", "free"): ("trial",) for it in ((), ("it",), ("nimbus",), ("out",))},
    ("free", "plan"): ("plan_free",),
    ("free", "tier"): ("plan_free",),
    ("team", "plan"): ("plan_team",),
    ("teams", "plan"): ("plan_team",),
    ("business", "plan"): ("plan_business",),
    ("pro", "plan"): ("plan_pro",),
    ("starter", "plan"): ("plan_starter",),
    ("enterprise", "plan"): ("plan_enterprise",),
    ("get", "in", "touch", "with"): ("contact",),
    ("talk", "to"): ("contact",),
    ("customer", "support"): ("support",),
    ("support", "team"): ("support",),
    ("sign", "up"): ("register",),
    ("log", "in"): ("login",),
    ("sign", "in"): ("login",),
    ("single", "sign", "on"): ("sso",),
    ("two", "factor"): ("2fa",),
    ("2", "factor"): ("2fa",),
    ("api", "key"): ("apikey",),
    ("api", "keys"): ("apikey",),
    ("chat", "widget"): ("widget",),
    ("web", "site"): ("website",),
    ("once", "a", "year"): ("annual",),
    # An intention; "plan" alone is the pricing plan ("change my plan to Pro"), so it needs a
    # subject or its verb form.
    ("you", "plan", "to"): ("FUTURE",),
    ("we", "plan", "to"): ("FUTURE",),
    ("plan", "on"): ("FUTURE",),
    ("planning", "to"): ("FUTURE",),
    ("planning", "on"): ("FUTURE",),
    ("there", "plans", "to"): ("FUTURE",),
    ("any", "plans", "to"): ("FUTURE",),
    ("going", "to"): ("FUTURE",),
    ("in", "future"): ("FUTURE",),
    ("self", "host"): ("selfhost",),
    ("self", "hosting"): ("selfhost",),
    ("self", "hosted"): ("selfhost",),
    ("on", "premise"): ("selfhost",),
    ("my", "own", "servers"): ("selfhost",),
    ("our", "own", "servers"): ("selfhost",),
    ("data", "center"): ("region",),
    ("data", "centers"): ("region",),
    ("set", "up"): ("setup",),
    ("setting", "up"): ("setup",),
    ("node", "js"): ("node",),
    ("get", "a", "copy", "of"): ("export",),
    ("without", "internet", "connection"): ("offline",),
    ("without", "an", "internet", "connection"): ("offline",),
    ("no", "connection"): ("offline",),
    ("no", "internet"): ("offline",),
    ("offline", "mode"): ("offline",),
    ("number", "of"): ("QUANTITY",),
    # The support desk by its other names, and the ways of reaching it.
    ("customer", "service"): ("support",),
    ("customer", "care"): ("support",),
    ("support", "staff"): ("support",),
    ("reach", "out", "to"): ("contact",),
    ("talk", "with"): ("contact",),
    ("in", "touch", "with"): ("contact",),
    ("money", "back"): ("refund",),
    ("get", "rid", "of"): ("delete",),
    # "end" and "stop" are "cancel" with a subscription as their object, not when a thing ends
    # by itself ("when does my trial end?"; ending a trial early may mean paying now).
    **{(verb, *whose, what): ("cancel", what)
       for verb in ("end", "stop") for whose in ((), ("my",), ("our",))
       for what in ("subscription", "membership")},
    ("end", "to", "end"): ("e2e",),
    # A duration asked with "what" asks what "how long" asks.
    ("what", "is", "duration", "of"): ("when",),
    **{("phone", app): ("mobile", "app") for app in ("app", "apps", "application")},
    ("web", "browser"): ("browser",),
    ("web", "browsers"): ("browser",),
    ("team", "member"): ("teammate",),
    ("team", "members"): ("teammate",),
    # Particles that turn a verb into another one: "back up" is not "get back", "opt out" is not
    # "opt in"; and names that are not the plan or the reply they contain.
    ("back", "up"): ("backup",),
    ("opt", "out"): ("opt_out",),
    ("opt", "in"): ("opt_in",),
    ("free", "up"): ("free_up",),
    ("saved", "replies"): ("saved_replies",),
    ("quick", "replies"): ("quick_replies",),
    ("conversation", "starter"): ("conversation_starter",),
    ("conversation", "starters"): ("conversation_starter",),
    ("close", "my", "account"): ("delete", "account"),
    ("close", "account"): ("delete", "account"),
    # Who acts: the vendor's people, and the customer training the model themselves.
    **{(whose, people): ("VENDOR", "staff") for whose in ("your", "nimbus")
       for people in ("staff", "employees", "employee", "engineers", "team")},
    **{(who, "train"): ("SELF", "train") for who in ("i", "we")},
    ("log", "out"): ("logout",),
    ("sign", "out"): ("logout",),
}

SYNONYMS: dict[str, str] = {
    **dict.fromkeys(("price", "prices", "pricing", "charge", "charges", "fee", "fees", "costs",
                     "expensive", "cheap", "cheaper"), "cost"),
    **dict.fromkeys(("pay", "paying", "payments"), "payment"),
    **dict.fromkeys(("bot", "chatbot", "ai"), "assistant"),
    **dict.fromkeys(("chat", "chats", "conversations"), "conversation"),
    **dict.fromkeys(("answers", "reply", "replies", "response", "responses", "respond",
                     "responds"), "answer"),
    **dict.fromkeys(("instantly", "immediate", "immediately", "fast", "quick"), "instant"),
    **dict.fromkeys(("reach", "contacting"), "contact"),
    **dict.fromkeys(("remove", "erase", "deleting"), "delete"),
    **dict.fromkeys(("download",), "export"),
    **dict.fromkeys(("forgotten", "lost"), "forgot"),
    **dict.fromkeys(("configure", "create", "setting"), "setup"),
    **dict.fromkeys(("installing", "installation"), "install"),
    **dict.fromkeys(("embed", "put", "insert"), "add"),
    **dict.fromkeys(("integrates", "integration", "integrations", "connect", "connector"),
                    "integrate"),
    **dict.fromkeys(("supported", "supports", "provide", "provides", "offers"), "offer"),
    **dict.fromkeys(("apps", "application", "applications", "tool", "tools"), "app"),
    **dict.fromkeys(("site", "webpage"), "website"),
    **dict.fromkeys(("docs", "documents", "documentation"), "document"),
    **dict.fromkeys(("keep", "kept", "saved", "stored", "storing"), "store"),
    **dict.fromkeys(("pwd", "passwords"), "password"),
    **dict.fromkeys(("yearly", "annually"), "annual"),
    **dict.fromkeys(("trained", "training"), "train"),
    **dict.fromkeys(("encrypted", "encryption", "encrypts"), "encrypt"),
    **dict.fromkeys(("maximum", "max", "largest", "biggest", "big", "large"), "size"),
    **dict.fromkeys(("try",), "trial"),
    **dict.fromkeys(("not", "no", "never", "without", "cannot", "nor"), "NEG"),
    **dict.fromkeys(("many", "count"), "QUANTITY"),
    **dict.fromkeys(("js",), "javascript"),
    **dict.fromkeys(("nodejs",), "node"),
    # Words a SaaS product's users use for the same thing. Left out, each a near-miss test:
    # user / seat (removing a user is not removing a paid seat), invoice / bill, terminate,
    # unsubscribe, update, helpdesk, recover / restore, give, speak, limitation.
    **dict.fromkeys(("cancellation", "cancelling", "canceling", "cancelled", "canceled"),
                    "cancel"),
    **dict.fromkeys(("subscriptions",), "subscription"),
    # "phone" alone is also a phone line ("phone support"); see PHRASES for the phone app.
    **dict.fromkeys(("smartphone", "smartphones", "cellphone"), "mobile"),
    **dict.fromkeys(("iphone", "ipad"), "ios"),
    **dict.fromkeys(("modify", "edit", "changing"), "change"),
    **dict.fromkeys(("reimburse", "reimbursement", "refunds", "refunded"), "refund"),
    **dict.fromkeys(("comply", "complies", "compliance"), "compliant"),
    **dict.fromkeys(("colleague", "colleagues", "coworker", "coworkers", "teammates"),
                    "teammate"),
    **dict.fromkeys(("cap", "caps", "quota", "quotas"), "limit"),
    **dict.fromkeys(("hosted",), "store"),
    **dict.fromkeys(("pro",), "plan_pro"),
    **dict.fromkeys(("enterprise",), "plan_enterprise"),
    **dict.fromkeys(("starter",), "plan_starter"),
}

# Tokens that say what kind of answer is wanted; the first one found decides the intent.
INTENT_WORDS: dict[str, str] = {
    "cost": "cost", "why": "reason", "where": "where", "when": "time", "QUANTITY": "quantity",
    "speed": "speed",
    "who": "who", "how": "how", "what": "what", "which": "what",
}
YES_NO_OPENERS = frozenset(
    {"is", "are", "do", "does", "did", "can", "could", "will", "would", "should", "am", "have",
     "has", "was", "were", "may"}
)
# Meaning the guards compare as a set: a question with "not" never matches one without.
MARKERS = frozenset({"NEG", "FUTURE", "QUANTITY", "VENDOR", "SELF"})

# Names whose difference always means a different question (plans, products, formats…).
ENTITY_WORDS = frozenset(
    {"plan_free", "plan_team", "plan_business", "plan_pro", "plan_starter", "plan_enterprise",
     "slack", "zoom", "salesforce", "hubspot", "jira", "github", "gitlab", "google", "microsoft",
     "paypal", "stripe", "python", "javascript", "typescript", "java", "ruby", "php", "node",
     "docker", "kubernetes", "ios", "android", "windows", "mac", "macos", "linux", "csv", "json",
     "pdf", "euro", "euros", "usd", "dollar", "dollars", "japanese", "english", "french", "german",
     "spanish", "chinese", "berlin", "saml"}
)
# The product's own name says nothing about which question it is.
PRODUCT_WORDS = frozenset({"nimbus"})

# Words that are a verb right after a subject ("do you support", "does Nimbus support", "plan
# to support") and a noun elsewhere ("contact support"): the verb's reading.
VERB_READINGS: dict[str, str] = {"support": "offer"}
SUBJECTS = frozenset({"you", "it", "we", "they", "FUTURE"}) | PRODUCT_WORDS

STOPWORDS = frozenset(
    {"i", "me", "my", "mine", "you", "your", "yours", "we", "us", "our", "they", "them", "their",
     "it", "its", "this", "that", "these", "those", "there", "here", "is", "are", "was", "were",
     "be", "been", "being", "am", "do", "does", "did", "can", "could", "will", "would", "should",
     "shall", "may", "might", "must", "have", "has", "had", "get", "got", "to", "of", "in", "on",
     "at", "for", "from", "with", "by", "about", "as", "into", "and", "or", "but", "if", "then",
     "than", "what", "which", "who", "whom", "whose", "when", "where", "why", "how", "some",
     "any", "all", "each", "every", "also", "too", "very", "so", "out", "offer", "available",
     "possible", "exist", "way", "best", "need", "want", "like", "know", "find", "see", "look",
     "locate", "located", "one", "someone", "anything", "something", "cost", "option", "options",
     "ways", "make", "makes", "go", "work", "works", "working", "explain", "tell", "up"}
)
# "how much" asks a price before these ("how much is / does / do I pay", "how much for Pro") and
# an amount before anything else ("how much storage", "how much support do I get").
PRICE_AFTER_HOW_MUCH = frozenset(
    {"is", "are", "was", "were", "does", "do", "did", "will", "would", "should", "can", "could",
     "for", "per", "it", "to", "extra", "more", "money", "i", "we", "you", "they", "this", "that",
     "free", "starter", "pro", "team", "teams", "business", "enterprise", "plan", "plans"}
)
# Looked past between a direction word and what it points at ("to my Slack", "from our Asana").
DETERMINERS = frozenset(
    {"my", "your", "our", "their", "his", "her", "its", "this", "that", "these", "those",
     "another", "other", "some", "any", "each", "every"}
)

# A question that refers back to the conversation needs its context in the key.
REFERS_BACK_WORDS = frozenset(
    {"it", "its", "that", "this", "those", "these", "they", "them", "their", "one", "ones",
     "same", "instead", "else", "either"}
)
REFERS_BACK_START = frozenset({"and", "also", "but", "then", "what about", "how about"})

# Which category a question belongs to: the category with most of these stems wins.
CATEGORY_WORDS: dict[str, frozenset[str]] = {
    "pricing": frozenset(
        {"cost", "trial", "discount", "refund", "cancel", "subscription", "bill", "billing",
         "invoice", "payment", "seat", "annual", "monthly", "prorat", "plan"}
    ),
    "features": frozenset(
        {"include", "feature", "integrate", "app", "language", "format", "offline", "mobile",
         "sso", "2fa", "upload", "size", "file", "limit", "slack"}
    ),
    "support": frozenset(
        {"support", "contact", "help", "password", "reset", "account", "delete", "hour",
         "ticket", "bug", "status", "outage", "down", "sla", "report"}
    ),
    "implementation": frozenset(
        {"install", "sdk", "api", "apikey", "webhook", "widget", "add", "website", "docker",
         "selfhost", "stream", "node", "python", "javascript", "code", "setup", "rate"}
    ),
    "how-it-works": frozenset(
        {"assistant", "generat", "answer", "train", "model", "data", "store", "encrypt",
         "accurat", "search", "document", "remember", "memory", "instant", "region"}
    ),
}

# What people typically ask next after a question of a category (standalone questions).
CATEGORY_FOLLOW_UPS: dict[str, tuple[str, ...]] = {
    "pricing": ("Is there a free trial?", "Do you offer a discount for annual billing?"),
    "features": ("Which integrations do you support?",),
    "support": ("What are your support hours?",),
    "implementation": ("Where do I find my API key?", "What are the API rate limits?"),
    "how-it-works": ("Is my data used to train the model?",),
}
