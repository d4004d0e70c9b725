"""The facts of COPY and EXPORT: rows loaded from files or programs, rows copied out of the
database (to files, programs or the client).

    COPY crm.customers TO '/tmp/out.csv' -> copy_out of crm.customers
"""

from __future__ import annotations

from sqlglot import exp

from lineage.model import OpaquePart
from lineage.decide.analysis.kinds import Kind

def is_client(item: exp.Expression) -> bool:
    """``COPY ... FROM STDIN``: the rows come from the client, not from the server's files."""
    return isinstance(item, exp.Identifier) and not item.quoted and item.name.upper() in ("STDIN", "STDOUT")


def path_of(item: exp.Expression, dialect: str) -> str:
    return item.name if isinstance(item, exp.Literal) and item.is_string else item.sql(dialect)


class CopyFacts:
    """The COPY/EXPORT part of the statement analyzer (``lineage.decide.analysis.facts``)."""

    def _copy(self, tree: exp.Copy) -> None:
        loading = bool(tree.args.get("kind"))
        target = tree.this
        if loading:
            self.facts.kind = Kind.COPY_IN
            if isinstance(target, exp.Table) and self.table_name(target):
                self._record_write(target)
            else:
                self.opaque.append(OpaquePart("unknown_target", "COPY into something that is not a table"))
            for source in tree.args.get("files") or []:
                if isinstance(source, exp.Query) or isinstance(source, exp.Subquery):
                    self._physical_reads(source)
                elif not self._copy_program(source, tree) and not is_client(source):
                    # a file on the database server (PostgreSQL), or in the pipeline's own process (DuckDB)
                    self.facts.files_read = self.facts.files_read + (path_of(source, self.dialect),)
            return
        self.facts.kind = Kind.COPY_OUT
        files = tree.args.get("files") or []
        for item in files:
            self._copy_program(item, tree)
        destination = ", ".join(item.sql(self.dialect) for item in files) or "STDOUT"
        # TO STDOUT hands the rows to the client, as a SELECT does; files and programs are copy_out
        to_client = destination.upper() == "STDOUT"
        if isinstance(target, exp.Schema):
            target = target.this
        if isinstance(target, exp.Table):
            name = self.table_name(target)
            if name:
                self._record_read(name)
                if not to_client:
                    self.facts.copy_out = (name,)
                known = self.catalog.columns(name)
                self.columns_read.setdefault(name, set()).update(known or {"*"})
        else:
            self._physical_reads(target)
            self._qualify_columns(target)
            if not to_client:
                self.facts.copy_out = tuple(dict.fromkeys(name for name in self.reads if name)) or ("(query)",)
        self.notes.append(f"copies data out to {destination}")

    def _copy_program(self, item: exp.Expression, tree: exp.Copy) -> bool:
        """``COPY ... FROM/TO PROGRAM 'cmd'``: a shell command on the database server (sqlglot keeps the
        command as the first parameter)."""
        if not (isinstance(item, exp.Identifier) and not item.quoted and item.name.upper() == "PROGRAM"):
            return False
        params = tree.args.get("params") or []
        first = params[0] if params else None
        command = first.this.name if first is not None and first.args.get("expression") is None and first.this is not None else ""
        self.facts.programs = self.facts.programs + (command or "(a program)",)
        return True

    def _export(self, tree: exp.Export) -> None:
        self.facts.kind = Kind.COPY_OUT
        query = tree.this
        if isinstance(query, exp.Expression):
            self._physical_reads(query)
            self._qualify_columns(query)
        self.facts.copy_out = tuple(dict.fromkeys(name for name in self.reads if name)) or ("(query)",)
