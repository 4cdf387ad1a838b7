"""Text PostgreSQL can store: it refuses U+0000 in `text` and `jsonb`, so an API that let one
through would answer 500. The services refuse it at the edge with 422 and the field's path."""

NUL = "\x00"
NUL_MESSAGE = "must not contain U+0000 (the NUL character)"


def without_nul(value: str) -> str:
    """`value` unchanged; ValueError when it holds U+0000 (for pydantic field validators)."""
    if NUL in value:
        raise ValueError(NUL_MESSAGE)
    return value


def nul_path(document: object, path: str = "$") -> str | None:
    """The JSON path of the first key or string in `document` holding U+0000, or None."""
    if isinstance(document, str):
        return path if NUL in document else None
    if isinstance(document, dict):
        for key, value in document.items():
            here = f"{path}.{key}"
            if isinstance(key, str) and NUL in key:
                return here.replace(NUL, "\\u0000")
            found = nul_path(value, here)
            if found is not None:
                return found
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found = nul_path(value, f"{path}[{index}]")
            if found is not None:
                return found
    return None
