# The report stage's targets (rules/report.smk); included by the Snakefile after
# rules/common.smk.

def report_targets():
    """The default target `all`: `attacks`' files and every table, figure and provenance file of the report
    section (erasure.plan.stage_targets)."""
    return STAGE_TARGETS["report"]
