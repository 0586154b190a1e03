# erase rules (being written)
