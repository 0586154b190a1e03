# report rules (being written)


def report_targets():
    return []
