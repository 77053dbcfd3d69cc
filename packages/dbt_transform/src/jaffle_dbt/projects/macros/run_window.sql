{% macro in_run_window(column, lookback_days=0) -%}
{#- True for the days this run was asked to rebuild (vars start_date/end_date), minus a lookback. -#}
{{ column }} between cast('{{ var("start_date") }}' as date) - {{ lookback_days }}
    and cast('{{ var("end_date") }}' as date)
{%- endmacro %}
