"""Reports: statistics, comparisons and verdicts over tidy metrics frames and written tables.

Plain library below :mod:`trajmbrl.plotting` (which only draws): :mod:`.tables` (seed-aggregated
result tables), :mod:`.comparisons` (Holm-corrected Wilcoxon families), :mod:`.control` (the
control study's final table), :mod:`.reward` (the 5.5 accuracy table), :mod:`.verdicts`
(claims per system and horizon band), :mod:`.figures` (the figures ``make results``
publishes) and :mod:`.summary` (the generated results page; ``python -m trajmbrl.reports``).
"""
