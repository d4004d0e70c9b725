"""copy_tree: sqlglot's ``Expression.copy()``, without deep-copying each node's position meta.

    >>> import sqlglot
    >>> tree = sqlglot.parse_one("SELECT lower(c.email) AS e FROM crm.customers AS c")
    >>> twin = copy_tree(tree)
    >>> twin == tree, twin is tree, twin.sql() == tree.sql()
    (True, False, True)
    >>> twin.find(sqlglot.exp.Identifier).meta == tree.find(sqlglot.exp.Identifier).meta
    True

``Expression.copy()`` passes every node's ``meta`` (the parser's line, column, start and end)
through ``copy.deepcopy``, which costs as much as the rest of the copy and about as much as
parsing the statement again. The meta the parser writes holds only numbers, strings and flags:
a new dict with the same values is the same deep copy. Any other value (a list, a node) is still
deep-copied. Comments and types are copied as ``copy()`` copies them; the cached hash is left
out (it is recomputed on demand).
"""

from __future__ import annotations

from copy import deepcopy

from sqlglot import exp

_PLAIN = frozenset((int, str, bool, float, type(None)))


def copy_tree(tree: exp.Expression) -> exp.Expression:
    """A deep copy of ``tree``: new nodes, equal args, comments, types and meta."""
    root = tree.__class__()
    stack = [(tree, root)]
    pop, push = stack.pop, stack.append
    plain, node_type = _PLAIN.issuperset, exp.Expr
    while stack:
        node, new = pop()
        if node.comments is not None:
            new.comments = list(node.comments)
        if node._type is not None:
            new._type = deepcopy(node._type)
        meta = node._meta
        if meta is not None:
            new._meta = dict(meta) if plain(map(type, meta.values())) else deepcopy(meta)
        args = new.args
        for key, value in node.args.items():
            if isinstance(value, node_type):
                child = value.__class__()
                child.parent = new
                child.arg_key = key
                args[key] = child
                push((value, child))
            elif type(value) is list:
                items = []
                for index, item in enumerate(value):
                    if isinstance(item, node_type):
                        child = item.__class__()
                        child.parent = new
                        child.arg_key = key
                        child.index = index
                        push((item, child))
                        item = child
                    items.append(item)
                args[key] = items
            else:
                args[key] = value
    return root
