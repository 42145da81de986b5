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

      dbt build --vars "$(lacuna dbt vars --environment development)"

  `lacuna_governance.actions` maps a node's unique_id to {column: [action, pii_type]}. For each
  column of this model: redact -> NULL; hash -> md5 of the value and the seed; mask -> the
  value's characters replaced by '*'; synthesize -> a pseudonym of its pii_type built from md5
  of the value and the seed (same value, same pseudonym in every model, so joins line up).
  Non-text columns are redacted when their action is not redact (the warehouse has no typed
  generator); `lacuna dbt apply` gives realistic, type- and format-preserving values on DuckDB.
  Without the variable the hook does nothing (production: reads are checked, not rewritten).
-#}
{% macro govern() -%}
  {%- if execute -%}
  {%- set gov = var('lacuna_governance', {}) -%}
  {%- set actions = (gov.get('actions') or {}).get(model.unique_id, {}) -%}
  {%- if actions -%}
    {%- set seed = (gov.get('seed') or 'lacuna') | string -%}
    {%- set salt = "'" ~ seed.replace("'", "''") ~ "'" -%}
    {%- set text_columns = [] -%}
    {%- for c in adapter.get_columns_in_relation(this) -%}
      {%- if c.is_string() -%}{%- do text_columns.append(c.name | lower) -%}{%- endif -%}
    {%- endfor -%}
    {%- set sets = [] -%}
    {%- for name, spec in actions.items() -%}
      {%- set action = spec[0] -%}
      {%- set pii_type = spec[1] if spec | length > 1 else none -%}
      {%- set col = adapter.quote(name) -%}
      {%- set digest = "md5(cast(" ~ col ~ " as varchar) || " ~ salt ~ ")" -%}
      {%- if action == 'redact' or (name | lower) not in text_columns -%}
        {%- do sets.append(col ~ " = null") -%}
      {%- elif action == 'hash' -%}
        {%- do sets.append(col ~ " = " ~ digest) -%}
      {%- elif action == 'mask' -%}
        {%- do sets.append(col ~ " = regexp_replace(" ~ col ~ ", '[^@.\\s-]', '*', 'g')") -%}
      {%- elif action == 'synthesize' -%}
        {%- set d = "md5(lower(cast(" ~ col ~ " as varchar)) || " ~ salt ~ ")" -%}
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
  update {{ this }} set {{ sets | join(', ') }};
  insert into {{ lacuna._events_relation() }}
  values ({{ lacuna._quote(invocation_id) }}, 'node_governed', {{ lacuna._quote(model.unique_id) }},
          {{ lacuna._quote(this) }}, null, {{ lacuna._quote(gov.get('environment')) }},
          {{ lacuna._quote(tojson(actions)) }}, current_timestamp)
  {%- endif -%}
  {%- endif -%}
{%- endmacro %}
