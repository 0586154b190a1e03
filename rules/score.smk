# score rules (being written)
