-- Undeclared downstream columns (full_name, email_address) take their class through the
-- compiled SQL's column lineage.
select
    customer_id,
    first_name || ' ' || last_name as full_name,
    lower(email) as email_address,
    phone,
    ssn,
    date_of_birth,
    city,
    signup_date
from {{ ref('bronze_customers') }}
