"""The hub's one base exception: every error the hub raises on purpose derives from HubError,
so a caller (and the CLI) can tell "the hub refused this" from a bug."""


class HubError(Exception):
    pass
