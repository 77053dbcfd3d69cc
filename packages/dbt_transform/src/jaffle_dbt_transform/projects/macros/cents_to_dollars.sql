{#- Money lands in cents (bigint); marts hold dollars as float8 on every target (DuckDB's DOUBLE,
    PostgreSQL's double precision): the type the marts' contracts declare. -#}
{% macro cents_to_dollars(column) -%}
    cast({{ column }} / 100.0 as float8)
{%- endmacro %}
