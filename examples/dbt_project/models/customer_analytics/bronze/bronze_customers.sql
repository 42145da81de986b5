select
    customer_id,
    first_name,
    last_name,
    email,
    phone,
    ssn,
    cast(date_of_birth as date) as date_of_birth,
    city,
    cast(signup_date as date) as signup_date
from {{ ref('raw_customers') }}
