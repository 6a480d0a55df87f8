"""How good the cache's matching is, measured: the evaluation, the calibration and the judge.

``cache-eval`` replays the reference workload and asks the labelled sets through real caches
(every pack, operating point and semantic backend asked for); ``cache-calibrate`` draws the
precision/recall frontier on a team's own questions and names the settings that meet a
precision; ``cache-judge`` trains the pair judge the ``balanced`` operating point uses.
"""
