{% test unique_combination_of_columns(model, columns) %}
{#- The combination of `columns` is unique (dbt_utils' test, without a package download). -#}
select {{ columns | join(', ') }}, count(*) as n
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
