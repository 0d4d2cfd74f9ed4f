"""The course's training methods: what each trains, and the values its learning rate is chosen from.

One registry that the runner (experiments), the tables (results) and the lessons all read.
"""

METHODS = {  # name -> what it trains (for tables and the decision explorer)
    "majority": "nothing: always the most common training label",
    "probe": "logistic regression on frozen mean-pooled features",
    "head": "the new linear head only",
    "last1": "head + last transformer block",
    "last2": "head + last two transformer blocks",
    "bitfit": "head + every bias",
    "lora": "head + rank-r adapters on attention query/value",
    "full": "every weight",
    "ulmfit": "every weight: gradual unfreezing, discriminative LRs, slanted triangular schedule",
}


GRID = {  # method -> (candidates for Experiment.lr, chosen on validation; the value run() takes alone)
    "probe": ((1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0), 1.0),  # the probe's C (inverse L2 strength), not a rate
    "head": ((3e-4, 1e-3, 3e-3, 1e-2), 1e-3),
    "last1": ((2e-5, 5e-5, 1e-4, 2e-4, 5e-4), 5e-5),  # fewer weights train: larger rates are tried
    "last2": ((2e-5, 5e-5, 1e-4, 2e-4, 5e-4), 5e-5),
    "bitfit": ((1e-3, 3e-3, 1e-2), 1e-3),
    "lora": ((1e-3, 3e-3, 1e-2), 1e-3),
    "full": ((2e-5, 5e-5, 1e-4), 5e-5),
    "ulmfit": ((2e-5, 5e-5, 1e-4), 5e-5),
}
