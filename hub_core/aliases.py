"""Short names for `hub run`, `hub show`, `hub eval` and hub.Module(): `hub run face img.jpg`.
Each module declares its aliases in its module.json."""
from .module import available, read_metadata


def all_aliases():
    """{alias: module name} from every available module's metadata."""
    table = {}
    for name, folder in available().items():
        for alias in read_metadata(folder).get("aliases", []):
            table.setdefault(alias, name)
    return table


def resolve(name):
    """The module name an alias stands for; other names are returned unchanged."""
    return all_aliases().get(name, name)


def table():
    """alias  module  (the module's notice, where its default needs one: see module.json)"""
    rows = []
    for alias, module in all_aliases().items():
        notice = read_metadata(available()[module]).get("notice")
        rows.append(f"{alias:<8} {module}" + (f"  ({notice})" if notice else ""))
    return "\n".join(rows)
