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
