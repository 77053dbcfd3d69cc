{% macro in_run_window(column, lookback_days=0) -%}
{#- True for the days this run was asked to rebuild, minus a lookback. The flow gives every build its
    window (vars start_date and end_date); without one (docs, parse) every day counts. -#}
{%- set start_date = var("start_date", none) -%}
{%- set end_date = var("end_date", none) -%}
{%- if start_date is none or end_date is none -%}
true
{%- else -%}
{{ column }} between cast('{{ start_date }}' as date) - {{ lookback_days }}
    and cast('{{ end_date }}' as date)
{%- endif -%}
{%- endmacro %}
