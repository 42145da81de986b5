{#-
  Lacuna's run log. Every hook appends rows to {{ lacuna_schema }}.lacuna_events:

    invocation_id  dbt's invocation id (one dbt command)
    event          run_started | node_built | node_result | run_finished
    node_id        the node's unique_id (node_built, node_result)
    relation       the relation dbt built (node_built)
    depends_on     JSON list of the node's parents' unique_ids (node_built)
    status         success | error | skipped | pass | fail ... (node_result)
    detail         JSON: the node's declared meta (node_built), counts (run_finished)
    recorded_at    when the row was written

  `lacuna dbt record --project-dir DIR` reads these rows together with target/manifest.json and
  target/run_results.json and records runs, lineage, decisions and audit in Lacuna's stores.
  The schema is `var('lacuna_schema')`, default `lacuna_audit`.
-#}

{% macro _events_relation() -%}
  {{ var('lacuna_schema', 'lacuna_audit') }}.lacuna_events
{%- endmacro %}

{% macro _quote(value) -%}
  '{{ (value | string).replace("'", "''") }}'
{%- endmacro %}

{% macro _create_events() -%}
  create schema if not exists {{ var('lacuna_schema', 'lacuna_audit') }};
  create table if not exists {{ lacuna._events_relation() }} (
    invocation_id varchar,
    event varchar,
    node_id varchar,
    relation varchar,
    depends_on varchar,
    status varchar,
    detail varchar,
    recorded_at timestamp
  );
{%- endmacro %}

{% macro register_run() -%}
  {%- if execute -%}
  {{ lacuna._create_events() }}
  insert into {{ lacuna._events_relation() }}
  values ({{ lacuna._quote(invocation_id) }}, 'run_started', null, null, null, null,
          {{ lacuna._quote(tojson({'target': target.name, 'project': project_name,
                                   'dbt_version': dbt_version})) }},
          current_timestamp)
  {%- endif -%}
{%- endmacro %}

{% macro track_lineage() -%}
  {%- if execute -%}
  {%- set meta = model.config.get('meta', {}) if model.config is mapping else {} -%}
  {%- set parents = model.depends_on.nodes if model.depends_on.nodes is defined else [] -%}
  {%- set columns = {} -%}
  {%- for name, col in model.columns.items() -%}
    {%- if col.meta -%}{%- do columns.update({name: col.meta}) -%}{%- endif -%}
  {%- endfor -%}
  {{ lacuna._create_events() }}
  insert into {{ lacuna._events_relation() }}
  values ({{ lacuna._quote(invocation_id) }}, 'node_built', {{ lacuna._quote(model.unique_id) }},
          {{ lacuna._quote(this) }},
          {{ lacuna._quote(tojson(parents)) }}, 'success',
          {{ lacuna._quote(tojson({'meta': meta, 'columns': columns, 'tags': model.tags})) }},
          current_timestamp)
  {%- endif -%}
{%- endmacro %}

{% macro verify_compliance() -%}
  {#- Every node dbt ran gets a node_result row; a model built without a node_built row (its
      post-hook was removed) is reported, and `lacuna dbt record` flags it too. -#}
  {%- if execute -%}
  {%- set tracked = [] -%}
  {%- set untracked = [] -%}
  {{ lacuna._create_events() }}
  {%- for r in results -%}
    {%- if r.node.resource_type in ('model', 'seed', 'snapshot') and r.status == 'success' -%}
      {%- set hooks = r.node.config.post_hook | map(attribute='sql') | join(' ') -%}
      {%- if 'track_lineage' in hooks -%}{%- do tracked.append(r.node.unique_id) -%}
      {%- else -%}{%- do untracked.append(r.node.unique_id) -%}{%- endif -%}
    {%- endif %}
  insert into {{ lacuna._events_relation() }}
  values ({{ lacuna._quote(invocation_id) }}, 'node_result', {{ lacuna._quote(r.node.unique_id) }},
          null, null, {{ lacuna._quote(r.status) }}, null, current_timestamp);
  {%- endfor %}
  {%- if untracked -%}
    {{ log("lacuna: built without lacuna.track_lineage(): " ~ (untracked | join(", ")) ~
           "; add the post-hook or run `lacuna dbt record` after dbt", info=True) }}
  {%- endif %}
  insert into {{ lacuna._events_relation() }}
  values ({{ lacuna._quote(invocation_id) }}, 'run_finished', null, null, null, null,
          {{ lacuna._quote(tojson({'results': results | length, 'tracked': tracked | length,
                                   'untracked': untracked})) }},
          current_timestamp)
  {%- endif -%}
{%- endmacro %}

{#-
  lacuna.govern(): the non-production policies as a post-hook, inside the warehouse.

  dbt cannot read floe.yaml or run Python, so Lacuna hands the decisions in as a variable:

      LACUNA_DBT_HASH_KEY=<secret> dbt build --vars "$(lacuna dbt vars --environment development)"

  `lacuna_governance.actions` maps a node's unique_id to {column: [action, pii_type]}. For each
  column of this model: redact -> NULL; hash -> sha256 of the environment's secret key, the seed
  and the value (hex); mask -> the value's characters replaced by '*'; synthesize -> a pseudonym
  of its pii_type built from that same keyed digest of the lower-cased value (same value, same
  pseudonym in every model, so joins line up).

  The key is read from the environment variable LACUNA_DBT_HASH_KEY (at least 16 characters, of
  at least 8 distinct ones),
  never from the project or the vars: the seed is public, and a digest of a value and public
  strings is reversed by hashing a list of candidates (a dictionary attack). Without the key a
  hash or synthesize action fails the node. The key is set as a session variable in one
  statement and the UPDATE reads it from there (lacuna.hash_key_ref()), so the masking SQL
  names the key but does not hold it; the setting statement does hold it, and the warehouse's
  query history records it. dbt's debug log (logs/dbt.log) does too unless the same value is
  also in DBT_ENV_SECRET_LACUNA_DBT_HASH_KEY (dbt scrubs those values; Lacuna's run_dbt sets it).

  Non-text columns are redacted when their action is not redact (the warehouse has no typed
  generator); `lacuna dbt apply` gives realistic, type- and format-preserving values on DuckDB.
  Without the variable the hook does nothing (production: reads are checked, not rewritten).
-#}
{% macro govern() -%}
  {%- if execute -%}
  {%- set gov = var('lacuna_governance', {}) -%}
  {%- set given = (gov.get('actions') or {}).get(model.unique_id, {}) -%}
  {%- if given -%}
    {%- set seed = (gov.get('seed') or 'lacuna') | string -%}
    {%- set salt = "'" ~ seed.replace("'", "''") ~ "'" -%}
    {%- set text_columns = [] -%}
    {%- set built = adapter.get_columns_in_relation(this) -%}
    {%- for c in built -%}
      {%- if c.is_string() -%}{%- do text_columns.append(c.name | lower) -%}{%- endif -%}
    {%- endfor -%}
    {#- "*": [action, pii_type, named...]: every built column the classification does not
        name (SQL Lacuna could not trace, an expression without an alias) -#}
    {%- set actions = {} -%}
    {%- for name, spec in given.items() if name != '*' -%}
      {%- do actions.update({name: spec}) -%}
    {%- endfor -%}
    {%- if '*' in given -%}
      {%- set named = given['*'][2:] | map('lower') | list -%}
      {%- for c in built if (c.name | lower) not in named and c.name not in actions -%}
        {%- do actions.update({c.name: given['*'][:2]}) -%}
      {%- endfor -%}
    {%- endif -%}
  {%- if actions -%}
    {%- set keyed = [] -%}
    {%- for name, spec in actions.items() -%}
      {%- if spec[0] in ('hash', 'synthesize') and (name | lower) in text_columns -%}
        {%- do keyed.append(name) -%}
      {%- endif -%}
    {%- endfor -%}
    {%- set key = lacuna._hash_key(keyed, gov.get('environment')) if keyed else none -%}
    {%- set string_type = dbt.type_string() -%}
    {%- set sets = [] -%}
    {%- for name, spec in actions.items() -%}
      {%- set action = spec[0] -%}
      {%- set pii_type = spec[1] if spec | length > 1 else none -%}
      {%- set col = adapter.quote(name) -%}
      {%- if action == 'redact' or (name | lower) not in text_columns -%}
        {%- do sets.append(col ~ " = null") -%}
      {%- elif action == 'hash' -%}
        {%- do sets.append(col ~ " = " ~ lacuna.keyed_digest("cast(" ~ col ~ " as " ~ string_type ~ ")", salt)) -%}
      {%- elif action == 'mask' -%}
        {%- do sets.append(col ~ " = regexp_replace(" ~ col ~ ", '[^@.\\s-]', '*', 'g')") -%}
      {%- elif action == 'synthesize' -%}
        {%- set d = lacuna.keyed_digest("lower(cast(" ~ col ~ " as " ~ string_type ~ "))", salt) -%}
        {%- if pii_type == 'email' -%}
          {%- set value = "'user_' || substr(" ~ d ~ ", 1, 10) || '@example.org'" -%}
        {%- elif pii_type == 'name' -%}
          {%- set value = "'Person ' || upper(substr(" ~ d ~ ", 1, 6))" -%}
        {%- elif pii_type == 'phone' -%}
          {%- set value = "'+1-555-' || substr(regexp_replace(" ~ d ~ ", '[a-f]', '', 'g') || '0000000', 1, 7)" -%}
        {%- else -%}
          {%- set value = "'synthetic_' || substr(" ~ d ~ ", 1, 12)" -%}
        {%- endif -%}
        {%- do sets.append(col ~ " = case when " ~ col ~ " is null then null else " ~ value ~ " end") -%}
      {%- endif -%}
    {%- endfor %}
  {% if key is not none -%}{{ lacuna.set_hash_key(key) }};{%- endif %}
  update {{ this }} set {{ sets | join(', ') }};
  {% if key is not none -%}{{ lacuna.unset_hash_key() }};{%- endif %}
  insert into {{ lacuna._events_relation() }}
  values ({{ lacuna._quote(invocation_id) }}, 'node_governed', {{ lacuna._quote(model.unique_id) }},
          {{ lacuna._quote(this) }}, null, {{ lacuna._quote(gov.get('environment')) }},
          {{ lacuna._quote(tojson(actions)) }}, current_timestamp)
  {%- endif -%}
  {%- endif -%}
  {%- endif -%}
{%- endmacro %}

{#- The environment's secret key for hash and synthesize, or a compile error naming what is
    missing: never a default (a public key is no key). -#}
{% macro _hash_key(columns, environment) -%}
  {%- set key = env_var('LACUNA_DBT_HASH_KEY', '') -%}
  {#- 16 characters of at least 8 distinct ones: "k" * 32 is long but guessed at once -#}
  {%- set weak = key | length < 16 or (key | list | unique | list | length) < 8 -%}
  {%- if weak -%}
    {{ exceptions.raise_compiler_error(
         "lacuna.govern(): " ~ model.unique_id ~ " hashes or pseudonymises classified column(s) "
         ~ (columns | join(', ')) ~ " in environment '" ~ (environment or 'unknown')
         ~ "', but LACUNA_DBT_HASH_KEY is " ~ ("not set" if not key else "shorter than 16 characters"
             if key | length < 16 else "made of fewer than 8 distinct characters (guessable)")
         ~ ". Set it to a secret of at least 16 random characters that is not in the project "
         ~ "(e.g. export LACUNA_DBT_HASH_KEY=$(openssl rand -hex 32) from your secret store); "
         ~ "a digest keyed by a public seed is reversed by hashing candidate values. "
         ~ "Or use action: redact (no key needed).") }}
  {%- endif -%}
  {{ return(key) }}
{%- endmacro %}

{#- sha256 (hex) of the session's key, the seed and the value: the key is looked up, not inlined. -#}
{% macro keyed_digest(value_sql, salt_sql) -%}
  {{ lacuna.sha256_hex(lacuna.hash_key_ref() ~ " || ':' || " ~ salt_sql ~ " || ':' || " ~ value_sql) }}
{%- endmacro %}

{% macro set_hash_key(key) -%}
  {{ return(adapter.dispatch('set_hash_key', 'lacuna')("'" ~ key.replace("'", "''") ~ "'")) }}
{%- endmacro %}
{% macro duckdb__set_hash_key(key) %}set variable lacuna_hash_key = {{ key }}{% endmacro %}
{% macro postgres__set_hash_key(key) %}select set_config('lacuna.hash_key', {{ key }}, true){% endmacro %}
{% macro snowflake__set_hash_key(key) %}set lacuna_hash_key = {{ key }}{% endmacro %}
{% macro bigquery__set_hash_key(key) %}declare lacuna_hash_key string default {{ key }}{% endmacro %}
{% macro default__set_hash_key(key) -%}
  {{ exceptions.raise_compiler_error(
       "lacuna.govern(): no keyed hash for the " ~ adapter.type() ~ " adapter (DuckDB, "
       ~ "PostgreSQL, Snowflake and BigQuery have one); use action: redact, or rewrite the "
       ~ "tables with `lacuna dbt apply`") }}
{%- endmacro %}

{% macro hash_key_ref() -%}{{ return(adapter.dispatch('hash_key_ref', 'lacuna')()) }}{%- endmacro %}
{% macro duckdb__hash_key_ref() %}getvariable('lacuna_hash_key'){% endmacro %}
{% macro postgres__hash_key_ref() %}current_setting('lacuna.hash_key'){% endmacro %}
{% macro snowflake__hash_key_ref() %}getvariable('LACUNA_HASH_KEY'){% endmacro %}
{% macro bigquery__hash_key_ref() %}lacuna_hash_key{% endmacro %}
{% macro default__hash_key_ref() %}getvariable('lacuna_hash_key'){% endmacro %}

{% macro unset_hash_key() -%}{{ return(adapter.dispatch('unset_hash_key', 'lacuna')()) }}{%- endmacro %}
{% macro duckdb__unset_hash_key() %}reset variable lacuna_hash_key{% endmacro %}
{% macro postgres__unset_hash_key() %}select set_config('lacuna.hash_key', '', true){% endmacro %}
{% macro snowflake__unset_hash_key() %}unset lacuna_hash_key{% endmacro %}
{% macro bigquery__unset_hash_key() %}select 1{% endmacro %}
{% macro default__unset_hash_key() %}select 1{% endmacro %}

{% macro sha256_hex(expr) -%}{{ return(adapter.dispatch('sha256_hex', 'lacuna')(expr)) }}{%- endmacro %}
{% macro duckdb__sha256_hex(expr) %}sha256({{ expr }}){% endmacro %}
{% macro postgres__sha256_hex(expr) %}encode(sha256(convert_to({{ expr }}, 'UTF8')), 'hex'){% endmacro %}
{% macro snowflake__sha256_hex(expr) %}sha2({{ expr }}, 256){% endmacro %}
{% macro bigquery__sha256_hex(expr) %}to_hex(sha256({{ expr }})){% endmacro %}
{% macro default__sha256_hex(expr) %}sha256({{ expr }}){% endmacro %}
