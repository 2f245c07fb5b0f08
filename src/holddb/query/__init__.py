"""Query language: filters, projections, sorts, updates and aggregation.

Everything here is pure (no storage, no I/O) and works on decoded documents
(``dict``).  Public surface below; modules prefixed ``_`` are private.
"""

from holddb.query._aggregate import run_pipeline, validate_pipeline
from holddb.query._expressions import compile_expression, truthy
from holddb.query._matcher import compile_filter, matches
from holddb.query._paths import candidates, get_path
from holddb.query._projection import compile_projection
from holddb.query._sort import parse_sort, sort_documents
from holddb.query._update import apply_update, is_operator_update, upsert_seed, validate_update
from holddb.query._values import MISSING, compare, type_name, values_equal

__all__ = [
    "MISSING",
    "apply_update",
    "candidates",
    "compare",
    "compile_expression",
    "compile_filter",
    "compile_projection",
    "get_path",
    "is_operator_update",
    "matches",
    "parse_sort",
    "run_pipeline",
    "sort_documents",
    "truthy",
    "type_name",
    "upsert_seed",
    "validate_pipeline",
    "validate_update",
    "values_equal",
]
