"""Tables, figures and their provenance, built from score summaries, manifests and training logs.

    tables       Table 1 / Table 2 as CSV (long), Markdown and LaTeX (booktabs), values with 95% intervals
    curves       Fig. 5: metric vs training iteration per run, plus the training loss
    grids        samples per method for fixed prompts and seeds (Fig. 3/6/7 style)
    matrices     Fig. 2: erased concept x prompted concept, as a heatmap and as an image grid
    provenance   the audit trail of a table or figure, walked upstream through the results layout
    lineage      `python -m erasure.report.lineage OUTPUT` prints that trail as a tree
"""
