# generate rules (being written)
