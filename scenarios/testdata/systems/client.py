# A stand-in: the loader only checks that it is inside the tree.
