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
    return "\n".join(f"{alias:<8} {module}" for alias, module in all_aliases().items())
