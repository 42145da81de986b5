{% snapshot customers_snapshot %}
{{ config(target_schema='snapshots', unique_key='customer_id', strategy='check', check_cols=['email', 'city']) }}
select customer_id, email, city from {{ ref('bronze_customers') }}
{% endsnapshot %}
