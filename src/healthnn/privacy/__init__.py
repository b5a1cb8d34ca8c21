"""Privacy: de-identification of notes (:mod:`.deid`), keyed pseudonyms, keys and bundle
encryption. :func:`deidentify_file` is ``healthnn deid`` (a file of notes in, one out)."""

from healthnn.privacy._deid_io import deidentify_file

__all__ = ["deidentify_file"]
