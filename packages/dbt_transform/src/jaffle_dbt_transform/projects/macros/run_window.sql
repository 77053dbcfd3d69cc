{% macro in_run_window(column, lookback_days=0) -%}
{#- True for the days this run was asked to rebuild, minus a lookback. The flow gives every build its
    window in the environment (JAFFLE_WINDOW_START, JAFFLE_WINDOW_END: runner.WINDOW_ENV), read only
    when dbt executes, so parsing never depends on it and dbt keeps its manifest across windows.
    Without one (parse, docs) every day counts. -#}
{%- set start_date = env_var("JAFFLE_WINDOW_START", "") if execute else "" -%}
{%- set end_date = env_var("JAFFLE_WINDOW_END", "") if execute else "" -%}
{%- if not start_date or not end_date -%}
true
{%- else -%}
{{ column }} between cast('{{ start_date }}' as date) - {{ lookback_days }}
    and cast('{{ end_date }}' as date)
{%- endif -%}
{%- endmacro %}
