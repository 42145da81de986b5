"""The hooks ``lacuna.enable()`` installs: exactly the same callables as before they were made
cheaper to install, each replacement built once per process, and every original put back by
``lacuna.disable()`` (identity, not equality)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest

import lacuna

LIBRARIES = ("pandas", "polars", "pyarrow", "duckdb", "sqlite3", "psycopg", "psycopg2", "asyncpg")
ROOTS = (*LIBRARIES, "_duckdb", "_sqlite3")

# What lacuna.enable() replaced, observed (every module of these libraries and every class
# they export, compared before and after), with the code before installing was made cheaper
# (commit 745c3970) and the libraries named in RECORDED_WITH, plus the single-value hooks added
# since (pandas DataFrame._get_value and Series._ixs; NDFrame.__finalize__, which records the
# parts cut from a governed object). polars 2.2 added Expr.x_log_y, the binary find/find_many,
# str.from_code_point and polars.date_diff, hooked by the same rule as their neighbours.
# Regenerate with _observed() when a library's upgrade adds or drops a hooked method, review
# the difference, and update RECORDED_WITH.
RECORDED_WITH = {"pandas": "3.1.2", "polars": "2.2.0", "pyarrow": "26.0.1", "duckdb": "2.0.1",
                 "psycopg": "3.3.9", "psycopg2": "2.9.13", "asyncpg": "0.32.0"}
PATCHED = {
    '_duckdb.DuckDBPyConnection': (
        "df execute executemany fetch_df fetch_df_chunk fetchdf fetchnumpy from_arrow "
        "from_csv_auto from_df from_parquet from_query query read_csv read_json read_parquet "
        "register sql table table_function tf to_arrow_reader to_arrow_table torch unregister "
        "view"
    ),
    'asyncpg.connection.Connection': (
        "copy_from_query copy_from_table copy_records_to_table copy_to_table cursor execute "
        "executemany fetch fetchmany fetchrow fetchval"
    ),
    'asyncpg.prepared_stmt.PreparedStatement': (
        "cursor executemany fetch fetchmany fetchrow fetchval"
    ),
    'duckdb': (
        "aggregate alias arrow connect df distinct execute executemany fetch_df fetch_df_chunk "
        "fetchdf fetchnumpy filter from_arrow from_csv_auto from_df from_parquet from_query limit "
        "order project query query_df read_csv read_json read_parquet register sql table "
        "table_function tf to_arrow_reader to_arrow_table torch unregister view write_csv"
    ),
    'duckdb._relation.DuckDBPyRelation': (
        "aggregate any_value apply arg_max arg_min arrow avg bit_and bit_or bit_xor bitstring_agg "
        "bool_and bool_or count create create_view cross cume_dist dense_rank describe df "
        "distinct drop except_ favg fetch_arrow_reader fetch_arrow_table fetch_record_batch "
        "fetchdf filter first first_value fsum geomean group_by head histogram insert_into "
        "intersect join lag last last_value lead limit list map materialize max mean median min "
        "mode n_tile nth_value offset order percent_rank pivot pl product project quantile "
        "quantile_cont quantile_disc query rank rank_dense rename row_number sample select "
        "select_dtypes select_types set_alias sort std stddev stddev_pop stddev_samp string_agg "
        "sum to_arrow_reader to_arrow_table to_csv to_df to_parquet to_table to_view union "
        "union_by_name unique unnest unpivot value_counts var var_pop var_samp variance "
        "with_columns write_csv write_parquet"
    ),
    'duckdb._relation.GroupedRelation': (
        "agg"
    ),
    'pandas': (
        "concat crosstab cut eval from_dummies get_dummies lreshape melt merge pivot qcut "
        "read_csv read_excel read_feather read_fwf read_hdf read_html read_json read_orc "
        "read_parquet read_pickle read_sas read_sql read_sql_query read_sql_table read_stata "
        "read_table read_xml to_datetime to_numeric to_timedelta wide_to_long"
    ),
    'pandas.ArrowDtype': (
        "__from_arrow__"
    ),
    'pandas.BooleanDtype': (
        "__from_arrow__"
    ),
    'pandas.DataFrame': (
        "__init__ __setitem__ _arith_method _cmp_method _flex_arith_method _flex_cmp_method "
        "_get_value _inplace_method _logical_method add_prefix add_suffix agg aggregate apply "
        "columns "
        "combine combine_first compare eval fillna from_records index insert iterrows join lacuna "
        "lacuna_classification lacuna_lineage lacuna_tags mask merge pivot rename set_index "
        "to_clipboard to_csv to_excel to_feather to_hdf to_html to_iceberg to_json to_latex "
        "to_markdown to_numpy to_orc to_parquet to_pickle to_records to_sql to_stata to_string "
        "to_xml update value_counts values where"
    ),
    'pandas.DatetimeTZDtype': (
        "__from_arrow__"
    ),
    'pandas.ExcelWriter': (
        "__init__ close"
    ),
    'pandas.HDFStore': (
        "__init__ append close open put"
    ),
    'pandas.Index': (
        "__new__ to_frame to_series"
    ),
    'pandas.IntervalDtype': (
        "__from_arrow__"
    ),
    'pandas.PeriodDtype': (
        "__from_arrow__"
    ),
    'pandas.Series': (
        "__array__ __init__ __iter__ __setitem__ _arith_method _cmp_method _inplace_method "
        "_ixs _logical_method agg aggregate apply array combine combine_first compare explode "
        "fillna "
        "index lacuna lacuna_classification lacuna_lineage lacuna_tags map mask name to_clipboard "
        "to_csv to_excel to_frame to_hdf to_json to_latex to_list to_markdown to_numpy to_pickle "
        "to_sql to_string tolist unstack update value_counts values where"
    ),
    'pandas.StringDtype': (
        "__from_arrow__"
    ),
    'pandas.api.typing.DataFrameGroupBy': (
        "agg aggregate apply bfill count cumcount cummax cummin cumprod cumsum describe diff "
        "ffill first last max mean median min ngroup nunique ohlc pct_change prod quantile rank "
        "sem shift size std sum transform var"
    ),
    'pandas.api.typing.Expanding': (
        "agg aggregate apply corr count cov first kurt last max mean median min nunique quantile "
        "rank sem skew std sum var"
    ),
    'pandas.api.typing.ExponentialMovingWindow': (
        "agg aggregate corr cov mean std sum var"
    ),
    'pandas.api.typing.Rolling': (
        "agg aggregate apply corr count cov first kurt last max mean median min nunique quantile "
        "rank sem skew std sum var"
    ),
    'pandas.api.typing.SeriesGroupBy': (
        "agg aggregate apply bfill count cumcount cummax cummin cumprod cumsum describe diff "
        "ffill first last max mean median min ngroup nunique ohlc pct_change prod quantile rank "
        "sem shift size std sum transform var"
    ),
    'pandas.api.typing.Window': (
        "agg aggregate mean std sum var"
    ),
    'pandas.core.arrays.numeric.NumericDtype': (
        "__from_arrow__"
    ),
    'pandas.core.generic.NDFrame': (
        "__finalize__"
    ),
    'pandas.core.indexing._LocationIndexer': (
        "__setitem__"
    ),
    'pandas.core.strings.accessor.StringMethods': (
        "cat extractall"
    ),
    'pandas.io.formats.style.Styler': (
        "to_excel to_html to_latex to_string to_typst"
    ),
    'pandas.util': (
        "hash_pandas_object"
    ),
    'polars': (
        "align_frames all all_horizontal any any_horizontal approx_n_unique arange arctan2 "
        "arg_sort_by arg_where build_info business_day_count coalesce collect_all "
        "collect_all_async concat concat_arr concat_list concat_str corr count cov cum_count "
        "cum_fold cum_reduce cum_sum cum_sum_horizontal date date_diff date_range date_ranges "
        "datetime datetime_range datetime_ranges defer delete_iceberg disable_string_cache "
        "dtype_of duration element enable_string_cache escape_regex exclude explain_all field "
        "first fold format from_arrow from_dataframe from_dict from_dicts from_epoch from_numpy "
        "from_pandas from_records from_repr from_torch get_extension_type get_index_type head "
        "implode int_range int_ranges json_normalize last len linear_space linear_spaces list "
        "lit map_batches map_groups max max_horizontal mean mean_horizontal median merge_sorted "
        "min min_horizontal n_unique nth ones pipe_with_dtype quantile read_avro read_clipboard "
        "read_csv read_delta read_excel read_ipc read_ipc_schema read_ipc_stream read_json "
        "read_ndjson read_ods read_parquet read_parquet_metadata read_parquet_schema reduce "
        "register_extension_type repeat rolling_corr rolling_cov row_index scan_csv scan_delta "
        "scan_iceberg scan_ipc scan_ndjson scan_parquet self_dtype set_random_seed "
        "show_versions sql sql_expr std struct struct_with_fields sum sum_horizontal tail "
        "thread_pool_size time time_range time_ranges union unregister_extension_type "
        "using_string_cache var when zeros"
    ),
    'polars.dataframe.frame.DataFrame': (
        "__arrow_c_stream__ __getitem__ __init__ bottom_k cast clear clone columns corr count "
        "describe deserialize drop drop_in_place drop_nans drop_nulls equals estimated_size "
        "explode extend fill_nan fill_null filter fold gather gather_every get_column "
        "get_column_index get_columns glimpse group_by group_by_dynamic hash_rows head hstack "
        "insert_column interpolate is_duplicated is_empty is_sorted is_unique item iter_columns "
        "iter_rows iter_slices join join_asof join_where lazy limit map_columns map_rows "
        "match_to_schema max max_horizontal mean mean_horizontal median merge_sorted min "
        "min_horizontal n_chunks n_unique null_count partition_by pipe pivot product quantile "
        "rechunk remove rename replace_column reverse rolling row rows rows_by_key sample select "
        "select_seq serialize set_sorted shift show shrink_to_fit slice sort sql std sum "
        "sum_horizontal tail to_arrow to_dict to_dicts to_dummies to_numpy to_pandas to_series "
        "to_struct top_k transpose unique unnest unpivot unstack update upsample var vstack "
        "with_columns with_columns_seq with_row_index write_avro write_clipboard write_csv "
        "write_database write_delta write_excel write_iceberg write_ipc write_ipc_stream "
        "write_json write_ndjson write_parquet"
    ),
    'polars.dataframe.group_by.DynamicGroupBy': (
        "agg"
    ),
    'polars.dataframe.group_by.GroupBy': (
        "agg"
    ),
    'polars.dataframe.group_by.RollingGroupBy': (
        "agg"
    ),
    'polars.expr.array.ExprArrayNameSpace': (
        "agg all any arg_max arg_min contains count_matches dot eval explode first get head join "
        "last len max mean median min n_unique reverse shift slice sort std sum tail to_list "
        "to_struct unique var"
    ),
    'polars.expr.binary.ExprBinaryNameSpace': (
        "contains decode encode ends_with find find_many get head reinterpret size slice "
        "starts_with tail"
    ),
    'polars.expr.categorical.ExprCatNameSpace': (
        "ends_with len_bytes len_chars physical slice starts_with to"
    ),
    'polars.expr.datetime.ExprDateTimeNameSpace': (
        "add_business_days base_utc_offset cast_time_unit century combine convert_time_zone date "
        "day days_in_month dst_offset epoch hour is_business_day is_leap_year iso_year "
        "microsecond millennium millisecond minute month month_end month_start nanosecond "
        "offset_by ordinal_day quarter replace replace_time_zone round second strftime time "
        "timestamp to_string total_days total_hours total_microseconds total_milliseconds "
        "total_minutes total_nanoseconds total_seconds truncate week weekday year"
    ),
    'polars.expr.expr.Expr': (
        "__abs__ __add__ __and__ __array_ufunc__ __eq__ __floordiv__ __ge__ __gt__ __invert__ "
        "__le__ __lt__ __mod__ __mul__ __ne__ __neg__ __or__ __pos__ __pow__ __radd__ __rand__ "
        "__rfloordiv__ __rmod__ __rmul__ __ror__ __rpow__ __rsub__ __rtruediv__ __rxor__ "
        "__sub__ __truediv__ __xor__ abs add alias all and_ any append approx_n_unique "
        "approx_quantile arccos arccosh arcsin arcsinh arctan arctanh arg_max arg_min arg_sort "
        "arg_true arg_unique arr backward_fill bin bin_intervals bin_quantiles bin_ranks "
        "bitwise_and bitwise_count_ones bitwise_count_zeros bitwise_leading_ones "
        "bitwise_leading_zeros bitwise_or bitwise_trailing_ones bitwise_trailing_zeros "
        "bitwise_xor bottom_k bottom_k_by cast cat cbrt ceil clip cos cosh cot count cum_count "
        "cum_max cum_min cum_prod cum_sum cumulative_eval cut degrees diff dot drop_nans "
        "drop_nulls dt entropy eq eq_missing erf erfc ewm_mean ewm_mean_by ewm_std ewm_sum "
        "ewm_sum_by ewm_var exclude exp explode ext extend_constant fill_nan fill_null filter "
        "first floor floordiv forward_fill gather gather_every ge get gt has_nulls hash head "
        "hist implode index_of inspect interpolate interpolate_by is_between is_close "
        "is_duplicated is_empty is_finite is_first_distinct is_in is_infinite is_last_distinct "
        "is_nan is_not_nan is_not_null is_null is_sorted is_unique item kurtosis last le len "
        "limit list log log10 log1p lower_bound lt map map_batches map_elements max max_by mean "
        "median min min_by mod mode mul n_unique name nan_max nan_min ne ne_missing neg not_ "
        "null_count or_ over pct_change peak_max peak_min pipe pipe_with_dtype pow product qcut "
        "quantile radians rank reinterpret repeat_by replace replace_strict reshape reverse rle "
        "rle_id rolling rolling_kurtosis rolling_map rolling_max rolling_max_by rolling_mean "
        "rolling_mean_by rolling_median rolling_median_by rolling_min rolling_min_by "
        "rolling_quantile rolling_quantile_by rolling_rank rolling_rank_by rolling_skew "
        "rolling_std rolling_std_by rolling_sum rolling_sum_by rolling_var rolling_var_by round "
        "round_sig_figs sample search_sorted set_sorted shift shuffle sign sin sinh skew slice "
        "sort sort_by sqrt std str struct sub sum tail tan tanh to_physical top_k top_k_by "
        "truediv truncate truncdiv unique unique_counts upper_bound value_counts var x_log_y "
        "xor"
    ),
    'polars.expr.ext.ExprExtensionNameSpace': (
        "storage to"
    ),
    'polars.expr.list.ExprListNameSpace': (
        "__getitem__ agg all any arg_max arg_min concat contains count_matches diff drop_nulls "
        "eval explode filter first gather gather_every get head item join last len max mean "
        "median min n_unique reverse sample set_difference set_intersection "
        "set_symmetric_difference set_union shift slice sort std sum tail to_array to_map "
        "to_struct unique var"
    ),
    'polars.expr.map.ExprMapNameSpace': (
        "contains_key entries get keys len values"
    ),
    'polars.expr.name.ExprNameNameSpace': (
        "keep map map_fields prefix prefix_fields replace strip_prefix strip_suffix suffix "
        "suffix_fields to_lowercase to_uppercase"
    ),
    'polars.expr.string.ExprStringNameSpace': (
        "contains contains_any count_matches decode encode ends_with escape_regex extract "
        "extract_all extract_groups extract_many find find_many from_code_point head join "
        "json_decode json_path_match len_bytes len_chars normalize pad_end pad_start replace "
        "replace_all replace_many reverse slice split split_exact splitn starts_with "
        "strip_chars strip_chars_end strip_chars_start strip_prefix strip_suffix strptime tail "
        "to_date to_datetime to_decimal to_integer to_lowercase to_time to_titlecase "
        "to_uppercase zfill"
    ),
    'polars.expr.struct.ExprStructNameSpace': (
        "__getitem__ drop eval field json_encode rename_fields unnest with_fields"
    ),
    'polars.expr.whenthen.ChainedThen': (
        "otherwise when"
    ),
    'polars.expr.whenthen.ChainedWhen': (
        "then"
    ),
    'polars.expr.whenthen.Then': (
        "otherwise when"
    ),
    'polars.expr.whenthen.When': (
        "then"
    ),
    'polars.lazyframe.frame.LazyFrame': (
        "__getitem__ __init__ bottom_k cache cast clear clone collect collect_async count "
        "describe deserialize drop drop_nans drop_nulls execute explain explode fill_nan "
        "fill_null filter first gather gather_every group_by group_by_dynamic head inspect "
        "interpolate join join_asof join_where last lazy limit map_batches match_to_schema max "
        "mean median merge_sorted min null_count pipe pipe_with_schema pivot quantile remote "
        "remove rename reverse rolling select select_seq serialize set_sorted shift show "
        "show_graph sink_csv sink_delta sink_iceberg sink_ipc sink_ndjson sink_parquet slice sort "
        "sql std sum tail top_k unique unnest unpivot update var with_columns with_columns_seq "
        "with_row_index"
    ),
    'polars.lazyframe.group_by.LazyGroupBy': (
        "agg"
    ),
    'polars.series.array.ArrayNameSpace': (
        "agg all any arg_max arg_min contains count_matches dot eval explode first get head join "
        "last len max mean median min n_unique reverse shift slice sort std sum tail to_list "
        "to_struct unique var"
    ),
    'polars.series.binary.BinaryNameSpace': (
        "contains decode encode ends_with find find_many get head reinterpret size slice "
        "starts_with tail"
    ),
    'polars.series.categorical.CatNameSpace': (
        "ends_with len_bytes len_chars physical slice starts_with to"
    ),
    'polars.series.datetime.DateTimeNameSpace': (
        "__getitem__ add_business_days base_utc_offset cast_time_unit century combine "
        "convert_time_zone date day days_in_month dst_offset epoch hour is_business_day "
        "is_leap_year iso_year max microsecond millennium millisecond min minute month month_end "
        "month_start nanosecond offset_by ordinal_day quarter replace replace_time_zone round "
        "second strftime time timestamp to_string total_days total_hours total_microseconds "
        "total_milliseconds total_minutes total_nanoseconds total_seconds truncate week weekday "
        "year"
    ),
    'polars.series.ext.ExtensionNameSpace': (
        "storage to"
    ),
    'polars.series.list.ListNameSpace': (
        "__getitem__ agg all any arg_max arg_min concat contains count_matches diff drop_nulls "
        "eval explode filter first gather gather_every get head item join last len max mean "
        "median min n_unique reverse sample set_difference set_intersection "
        "set_symmetric_difference set_union shift slice sort std sum tail to_array to_map "
        "to_struct unique var"
    ),
    'polars.series.map.MapNameSpace': (
        "contains_key entries get keys len values"
    ),
    'polars.series.series.Series': (
        "__abs__ __add__ __and__ __array_ufunc__ __arrow_c_stream__ __copy__ __deepcopy__ "
        "__eq__ __floordiv__ __ge__ __getitem__ __gt__ __init__ __invert__ __iter__ __le__ "
        "__lt__ __matmul__ __mod__ __mul__ __ne__ __neg__ __or__ __pos__ __pow__ __radd__ "
        "__rand__ __rfloordiv__ __rmatmul__ __rmod__ __rmul__ __ror__ __rpow__ __rsub__ "
        "__rtruediv__ __rxor__ __setitem__ __sub__ __truediv__ __xor__ abs alias all any append "
        "approx_n_unique approx_quantile arccos arccosh arcsin arcsinh arctan arctanh arg_max "
        "arg_min arg_sort arg_true arg_unique arr backward_fill bin bin_intervals bin_quantiles "
        "bin_ranks bitwise_and bitwise_count_ones bitwise_count_zeros bitwise_leading_ones "
        "bitwise_leading_zeros bitwise_or bitwise_trailing_ones bitwise_trailing_zeros "
        "bitwise_xor bottom_k bottom_k_by cast cat cbrt ceil chunk_lengths clear clip clone cos "
        "cosh cot count cum_count cum_max cum_min cum_prod cum_sum cumulative_eval cut degrees "
        "describe diff dot drop_nans drop_nulls dt entropy eq eq_missing equals erf erfc "
        "estimated_size ewm_mean ewm_mean_by ewm_std ewm_sum ewm_sum_by ewm_var exp explode ext "
        "extend extend_constant fill_nan fill_null filter first floor forward_fill gather "
        "gather_every ge get_chunks gt has_nulls hash head hist implode index_of interpolate "
        "interpolate_by is_between is_close is_duplicated is_empty is_finite is_first_distinct "
        "is_in is_infinite is_last_distinct is_nan is_not_nan is_not_null is_null is_sorted "
        "is_unique item kurtosis last le len limit list log log10 log1p lower_bound lt map "
        "map_elements max max_by mean median min min_by mode n_chunks n_unique nan_max nan_min "
        "ne ne_missing new_from_index not_ null_count pct_change peak_max peak_min pow product "
        "qcut quantile radians rank rechunk reinterpret rename repeat_by replace replace_strict "
        "reshape reverse rle rle_id rolling_kurtosis rolling_map rolling_max rolling_max_by "
        "rolling_mean rolling_mean_by rolling_median rolling_median_by rolling_min "
        "rolling_min_by rolling_quantile rolling_quantile_by rolling_rank rolling_rank_by "
        "rolling_skew rolling_std rolling_std_by rolling_sum rolling_sum_by rolling_var "
        "rolling_var_by round round_sig_figs sample scatter search_sorted set set_sorted shift "
        "shrink_dtype shrink_to_fit shuffle sign sin sinh skew slice sort sql sqrt std str "
        "struct sum tail tan tanh to_arrow to_dummies to_frame to_init_repr to_jax to_list "
        "to_numpy to_pandas to_physical to_torch top_k top_k_by truncate unique unique_counts "
        "upper_bound value_counts var x_log_y zip_with"
    ),
    'polars.series.string.StringNameSpace': (
        "contains contains_any count_matches decode encode ends_with escape_regex extract "
        "extract_all extract_groups extract_many find find_many from_code_point head join "
        "json_decode json_path_match len_bytes len_chars normalize pad_end pad_start replace "
        "replace_all replace_many reverse slice split split_exact splitn starts_with "
        "strip_chars strip_chars_end strip_chars_start strip_prefix strip_suffix strptime tail "
        "to_date to_datetime to_decimal to_integer to_lowercase to_time to_titlecase "
        "to_uppercase zfill"
    ),
    'polars.series.struct.StructNameSpace': (
        "__getitem__ drop eval field json_encode rename_fields unnest"
    ),
    'polars.sql.context.SQLContext': (
        "execute register unregister"
    ),
    'psycopg.AsyncCursor': (
        "copy execute executemany stream"
    ),
    'psycopg.AsyncServerCursor': (
        "execute executemany"
    ),
    'psycopg.Cursor': (
        "copy execute executemany stream"
    ),
    'psycopg.ServerCursor': (
        "execute executemany"
    ),
    'psycopg2': (
        "connect"
    ),
    'pyarrow': (
        "CompressedOutputStream OSFile RecordBatchFileWriter RecordBatchStreamWriter array "
        "chunked_array concat_arrays concat_batches concat_tables create_memory_map memory_map "
        "output_stream"
    ),
    'pyarrow._csv': (
        "CSVWriter write_csv"
    ),
    'pyarrow.acero': (
        "_filter_table _group_by _perform_join _perform_join_asof"
    ),
    'pyarrow.compute': (
        "abs abs_checked acos acos_checked acosh acosh_checked add add_checked all and and_ "
        "and_kleene and_not and_not_kleene any approximate_median array_filter array_sort_indices "
        "array_take ascii_capitalize ascii_center ascii_is_alnum ascii_is_alpha ascii_is_decimal "
        "ascii_is_lower ascii_is_printable ascii_is_space ascii_is_title ascii_is_upper "
        "ascii_lower ascii_lpad ascii_ltrim ascii_ltrim_whitespace ascii_reverse ascii_rpad "
        "ascii_rtrim ascii_rtrim_whitespace ascii_split_whitespace ascii_swapcase ascii_title "
        "ascii_trim ascii_trim_whitespace ascii_upper asin asin_checked asinh assume_timezone "
        "atan atan2 atanh atanh_checked binary_join binary_join_element_wise binary_length "
        "binary_repeat binary_replace_slice binary_reverse binary_slice bit_wise_and bit_wise_not "
        "bit_wise_or bit_wise_xor bottom_k_unstable call_function case_when cast ceil "
        "ceil_temporal choose coalesce cos cos_checked cosh count count_distinct count_substring "
        "count_substring_regex cumulative_max cumulative_mean cumulative_min cumulative_prod "
        "cumulative_prod_checked cumulative_sum cumulative_sum_checked day day_of_week "
        "day_of_year day_time_interval_between days_between dictionary_decode dictionary_encode "
        "divide divide_checked drop_null ends_with equal exp expm1 extract_regex "
        "extract_regex_span fill_null fill_null_backward fill_null_forward filter find_substring "
        "find_substring_regex first first_last floor floor_temporal greater greater_equal hour "
        "hours_between hypot if_else index index_in index_in_meta_binary indices_nonzero "
        "inverse_permutation invert is_dst is_finite is_in is_in_meta_binary is_inf is_leap_year "
        "is_nan is_null is_valid iso_calendar iso_week iso_year kurtosis last less less_equal "
        "list_element list_flatten list_parent_indices list_slice list_value_length ln ln_checked "
        "local_timestamp log10 log10_checked log1p log1p_checked log2 log2_checked logb "
        "logb_checked make_struct map_lookup match_like match_substring match_substring_regex max "
        "max_element_wise mean microsecond microseconds_between millisecond milliseconds_between "
        "min min_element_wise min_max minute minutes_between mode modulo modulo_checked month "
        "month_day_nano_interval_between month_interval_between multiply multiply_checked "
        "nanosecond nanoseconds_between negate negate_checked not_equal or or_ or_kleene "
        "pairwise_diff pairwise_diff_checked partition_nth_indices pivot_wider power "
        "power_checked product quantile quarter quarters_between rank rank_normal rank_quantile "
        "remainder remainder_checked replace_substring replace_substring_regex replace_with_mask "
        "round round_binary round_temporal round_to_multiple run_end_decode run_end_encode "
        "scatter search_sorted second seconds_between select_k_unstable shift_left "
        "shift_left_checked shift_right shift_right_checked sign sin sin_checked sinh skew "
        "sort_indices split_pattern split_pattern_regex sqrt sqrt_checked starts_with stddev "
        "strftime string_is_ascii strptime struct_field subsecond subtract subtract_checked sum "
        "take tan tan_checked tanh tdigest top_k_unstable true_unless_null trunc unique us_week "
        "us_year utf8_capitalize utf8_center utf8_is_alnum utf8_is_alpha utf8_is_decimal "
        "utf8_is_digit utf8_is_lower utf8_is_numeric utf8_is_printable utf8_is_space "
        "utf8_is_title utf8_is_upper utf8_length utf8_lower utf8_lpad utf8_ltrim "
        "utf8_ltrim_whitespace utf8_normalize utf8_replace_slice utf8_reverse utf8_rpad "
        "utf8_rtrim utf8_rtrim_whitespace utf8_slice_codeunits utf8_split_whitespace "
        "utf8_swapcase utf8_title utf8_trim utf8_trim_whitespace utf8_upper utf8_zero_fill "
        "utf8_zfill value_counts variance week weeks_between winsorize xor year year_month_day "
        "years_between"
    ),
    'pyarrow.csv': (
        "CSVWriter open_csv read_csv write_csv"
    ),
    'pyarrow.dataset': (
        "dataset write_dataset"
    ),
    'pyarrow.feather': (
        "read_feather read_table write_feather"
    ),
    'pyarrow.fs': (
        "LocalFileSystem SubTreeFileSystem"
    ),
    'pyarrow.fs.FSSpecHandler': (
        "open_append_stream open_output_stream"
    ),
    'pyarrow.ipc': (
        "RecordBatchFileReader RecordBatchFileWriter RecordBatchStreamReader "
        "RecordBatchStreamWriter open_file open_stream"
    ),
    'pyarrow.json': (
        "open_json read_json"
    ),
    'pyarrow.lib': (
        "CompressedOutputStream OSFile array concat_arrays create_memory_map memory_map "
        "output_stream"
    ),
    'pyarrow.orc': (
        "ORCFile ORCWriter read_table write_table"
    ),
    'pyarrow.pandas_compat': (
        "dataframe_to_arrays table_to_dataframe"
    ),
    'pyarrow.parquet': (
        "ParquetDataset ParquetFile ParquetWriter read_metadata read_pandas read_schema "
        "read_table write_table write_to_dataset"
    ),
    'pyarrow.parquet.core': (
        "LocalFileSystem ParquetWriter write_table write_to_dataset"
    ),
    'sqlite3': (
        "connect"
    ),
    'sqlite3.dbapi2': (
        "connect"
    ),
}


def _owners() -> Iterator[tuple[str, Any]]:
    seen: dict[int, tuple[str, Any]] = {}
    for name, module in list(sys.modules.items()):
        if module is None or name.split(".")[0] not in ROOTS:
            continue
        seen.setdefault(id(module), (name, module))
        for value in list(vars(module).values()):
            if isinstance(value, type):
                seen.setdefault(id(value), (f"{value.__module__}.{value.__qualname__}", value))
    return iter(seen.values())


def _snapshot() -> dict[int, tuple[str, Any, dict[str, Any]]]:
    return {id(owner): (label, owner, dict(vars(owner))) for label, owner in _owners()}


def _changed(before: dict[int, tuple[str, Any, dict[str, Any]]]) -> set[str]:
    missing = object()
    found = set()
    for label, owner, held in before.values():
        now = vars(owner)
        found |= {f"{label}:{name}" for name in held.keys() | now.keys()
                  if held.get(name, missing) is not now.get(name, missing)}
    return found


@pytest.fixture
def libraries() -> None:
    for library in LIBRARIES:
        pytest.importorskip(library)
    lacuna.enable(mode="observe")  # the integrations import the modules they hook
    lacuna.disable()


def _expected() -> set[str]:
    return {f"{owner}:{name}" for owner, names in PATCHED.items() for name in names.split()}


def _library(label: str) -> str:
    return label.split(".")[0].split(":")[0].lstrip("_")


def _upgraded() -> set[str]:
    """The libraries installed at another version than PATCHED was recorded with."""
    from importlib.metadata import PackageNotFoundError, version

    moved = set()
    for library, recorded in RECORDED_WITH.items():
        try:
            installed = version(library)
        except PackageNotFoundError:  # psycopg2 ships as psycopg2-binary
            installed = version(f"{library}-binary")
        if installed != recorded:
            moved.add(library)
    return moved


def _differences(patched: set[str]) -> tuple[list[str], list[str]]:
    """(hooked now, not before; hooked before, not now), exact for the libraries at the
    versions PATCHED was recorded with. For an upgraded library a method its new version adds
    may be hooked by the same rule as its neighbours, and one it dropped cannot be: those are
    not differences; a hooked method that still exists and is no longer hooked always is."""
    expected = _expected()
    moved = _upgraded()
    added = sorted(label for label in patched - expected if _library(label) not in moved)
    lost = []
    for label in sorted(expected - patched):
        owner_label, name = label.rsplit(":", 1)
        owners = [owner for found, owner in _owners() if found == owner_label]
        if _library(label) in moved and not any(name in vars(owner) for owner in owners):
            continue  # the upgrade removed it
        lost.append(label)
    return added, lost


@pytest.mark.usefixtures("libraries")
def test_hooks_patch_the_same_callables_as_before() -> None:
    before = _snapshot()
    lacuna.enable(mode="observe")
    patched = _changed(before)
    lacuna.disable()
    added, lost = _differences(patched)
    assert not added, f"hooked now, not before: {added}"
    assert not lost, f"hooked before, not now: {lost}"


def test_hooks_differences_are_exact_at_the_recorded_versions(monkeypatch) -> None:
    """The upgrade allowance cannot hide a change: at the recorded versions an extra hook and a
    missing one are both differences, and an upgrade excuses only its own library."""
    import polars as pl

    monkeypatch.setattr(sys.modules[__name__], "_upgraded", lambda: set())
    expected = _expected()
    extra = "polars.dataframe.frame.DataFrame:not_a_method"
    dropped = "polars.dataframe.frame.DataFrame:write_csv"
    assert dropped in expected
    assert "write_csv" in vars(pl.DataFrame)
    assert _differences((expected | {extra}) - {dropped}) == ([extra], [dropped])
    monkeypatch.setattr(sys.modules[__name__], "_upgraded", lambda: {"pandas"})
    assert _differences((expected | {extra}) - {dropped}) == ([extra], [dropped])
    monkeypatch.setattr(sys.modules[__name__], "_upgraded", lambda: {"polars"})
    assert _differences((expected | {extra}) - {dropped}) == ([], [dropped])


@pytest.mark.usefixtures("libraries")
def test_hooks_disable_restores_every_original_exactly() -> None:
    before = _snapshot()
    lacuna.enable(mode="observe")
    with lacuna.governed():  # held and released inside an enable
        pass
    patched = _changed(before)
    assert _differences(patched) == ([], [])
    lacuna.disable()
    assert _changed(before) == set()
    with lacuna.governed(mode="observe"):
        assert _changed(before) == patched
    for _label, owner, held in before.values():  # the very objects, and no name added
        now = vars(owner)
        assert now.keys() == held.keys()
        assert all(now[name] is value for name, value in held.items())


@pytest.mark.usefixtures("libraries")
def test_hooks_replacements_are_built_once_per_process() -> None:
    """A second enable swaps in the very objects the first one did, classmethods included
    (``DataFrame.from_records``, polars' ``deserialize``: a hook was built anew at each
    enable, from the bound method a lookup makes)."""
    import pandas as pd
    import polars as pl

    lacuna.enable(mode="observe")
    first = {(owner, name): vars(owner)[name] for owner, name in
             ((pd.DataFrame, "from_records"), (pl.DataFrame, "deserialize"),
              (pl.LazyFrame, "deserialize"), (pd.DataFrame, "to_csv"), (pl, "read_csv"))}
    lacuna.disable()
    lacuna.enable(mode="observe")
    again = {(owner, name): vars(owner)[name] for owner, name in
             ((pd.DataFrame, "from_records"), (pl.DataFrame, "deserialize"),
              (pl.LazyFrame, "deserialize"), (pd.DataFrame, "to_csv"), (pl, "read_csv"))}
    lacuna.disable()
    assert all(again[key] is hook for key, hook in first.items()), \
        [key for key, hook in first.items() if again[key] is not hook]


@pytest.mark.usefixtures("libraries")
@pytest.mark.parametrize("name", ["to_csv", "merge"])  # inherited (NDFrame's), DataFrame's own
def test_hooks_wrap_what_another_patcher_put_there_meanwhile(tmp_path, name: str) -> None:
    """Replaced between two enables (another library's patch), an attribute is hooked anew
    around what it holds now, never with the replacement built for the old original; and
    disable() gives back the other patcher's function."""
    import pandas as pd

    missing = object()
    own = vars(pd.DataFrame).get(name, missing)
    original = getattr(pd.DataFrame, name)
    calls: list[str] = []

    def theirs(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append("theirs")
        return original(self, *args, **kwargs)

    def call() -> None:
        frame = pd.DataFrame({"a": [1]})
        if name == "to_csv":
            frame.to_csv(tmp_path / "out.csv")
        else:
            frame.merge(frame)

    lacuna.enable(mode="observe")
    ours = vars(pd.DataFrame)[name]
    lacuna.disable()
    setattr(pd.DataFrame, name, theirs)
    try:
        lacuna.enable(mode="observe")
        hooked = vars(pd.DataFrame)[name]
        assert hooked is not ours
        assert hooked is not theirs
        call()
        lacuna.disable()
        assert calls == ["theirs"]  # the hook called what was there
        assert vars(pd.DataFrame)[name] is theirs
        lacuna.enable(mode="observe")
        assert vars(pd.DataFrame)[name] is hooked  # and is reused while it is there
        lacuna.disable()
    finally:
        if own is missing:
            delattr(pd.DataFrame, name)
        else:
            setattr(pd.DataFrame, name, own)
    lacuna.enable(mode="observe")
    assert vars(pd.DataFrame)[name] not in (hooked, theirs, original)  # around original
    call()
    lacuna.disable()
    assert vars(pd.DataFrame).get(name, missing) is own
    assert calls == ["theirs"]
