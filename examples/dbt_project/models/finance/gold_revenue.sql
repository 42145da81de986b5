-- Deliberately without tests or docs: `lacuna compile --enforcement strict` fails on it.
select
    date_trunc('month', order_date) as revenue_month,
    sum(amount) as revenue,
    count(*) as orders,
    round(100.0 * sum(case when amount > 100 then amount else 0 end) / sum(amount), 2) as margin_pct
from {{ ref('silver_orders') }}
group by 1
