select
    c.customer_id,
    c.full_name,
    c.email_address,
    c.city,
    count(o.order_id) as order_count,
    coalesce(sum(o.amount), 0) as lifetime_value
from {{ ref('silver_customers') }} as c
left join {{ ref('silver_orders') }} as o on o.customer_id = c.customer_id
group by c.customer_id, c.full_name, c.email_address, c.city
