#!/usr/bin/env bash
# Behaviour tests of the sc-patch CLI on real files: every subcommand, standard input, every
# error path and its exit code (0 success, 1 the operation failed, 2 usage or input error).
#
# usage: test_cli.sh SC_PATCH_BINARY [WRAPPER...]
#   WRAPPER (optional) prefixes every run, e.g. "valgrind --error-exitcode=99 ...": a wrapper
#   error then shows up as an unexpected exit code.
# Prints one line per failing check and closes with "N passed, N failed".
set -u
BIN=$1
shift
WRAP=("$@")
EXAMPLES="$(cd "$(dirname "$0")/../../../patch/examples" && pwd)"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

passed=0
failed=0
fail() { echo "FAIL: $current: $*"; failed=$((failed + 1)); }

# run ARGS...: runs sc-patch; sets $rc, $out (stdout), $err (stderr).
run() {
  "${WRAP[@]}" "$BIN" "$@" >"$T/out" 2>"$T/err" </dev/null
  rc=$?
  out=$(cat "$T/out")
  err=$(cat "$T/err")
}
# run_stdin FILE ARGS...: same, with FILE on standard input.
run_stdin() {
  local input=$1
  shift
  "${WRAP[@]}" "$BIN" "$@" >"$T/out" 2>"$T/err" <"$input"
  rc=$?
  out=$(cat "$T/out")
  err=$(cat "$T/err")
}
# check NAME: starts a behaviour; the expect_* helpers below record its failures.
check() {
  current=$1
  before_failed=$failed
}
done_check() { [ "$failed" -eq "$before_failed" ] && passed=$((passed + 1)); }
expect_rc() { [ "$rc" -eq "$1" ] || fail "exit code $rc, expected $1 (stderr: $err)"; }
expect_out() { [ "$out" = "$1" ] || fail "stdout '$out', expected '$1'"; }
expect_out_match() { [[ $out =~ $1 ]] || fail "stdout '$out' does not match /$1/"; }
expect_err_has() { [[ $err == *"$1"* ]] || fail "stderr '$err' lacks '$1'"; }
expect_no_out() { [ -z "$out" ] || fail "stdout should be empty, got '$out'"; }
expect_no_err() { [ -z "$err" ] || fail "stderr should be empty, got '$err'"; }

printf '{"a":1,"list":[{"id":1,"v":"x"},{"id":2,"v":"y"}]}' >"$T/a.json"
printf '{"a":2,"list":[{"id":2,"v":"y"},{"id":1,"v":"x"}],"new":true}\n' >"$T/b.json"
printf '[1,2,3]' >"$T/array.json"
printf '{"a":1}' >"$T/small.json"
printf '[{"op":"add","path":"/b","value":2}]' >"$T/add.json"
printf '[{"op":"remove","path":"/nope"}]' >"$T/remove-missing.json"
printf '[{"op":"add","path":"/b","value":2},{"op":"test","path":"/a","value":5}]' >"$T/test-fails.json"
printf '{"op":"add","path":"/b","value":2}' >"$T/not-array.json"
printf '{\n  "a": 1,\n  "b": tru\n}\n' >"$T/bad.json"
printf '{"a":1} x' >"$T/trailing.json"
printf ' \n\t' >"$T/empty.json"
printf '{"a":"x\0y"}' >"$T/nul.json"
printf '{"a":[1,2' >"$T/truncated.json"

# ---- help and usage ---------------------------------------------------------------------------
check "help_prints_usage_on_stdout_and_exits_0"
run --help; expect_rc 0; expect_out_match "usage: sc-patch"; expect_no_err; done_check
check "short_help_is_the_same"
run -h; expect_rc 0; expect_out_match "bench-diff A.json B.json ITER"; done_check
check "no_arguments_prints_usage_on_stderr_and_exits_2"
run; expect_rc 2; expect_no_out; expect_err_has "usage: sc-patch"; done_check
check "unknown_command_exits_2_and_names_it"
run frobnicate a b; expect_rc 2; expect_err_has 'unknown command "frobnicate"'; done_check
check "wrong_argument_count_exits_2"
run diff "$T/a.json"; expect_rc 2; expect_err_has "diff takes 2 arguments, got 1"; done_check
check "extra_argument_exits_2"
run apply "$T/a.json" "$T/add.json" extra; expect_rc 2; expect_err_has "apply takes 2 arguments, got 3"; done_check
check "bench_without_iter_exits_2"
run bench-diff "$T/a.json" "$T/b.json"; expect_rc 2; expect_err_has "bench-diff takes 3 arguments"; done_check

# ---- diff -------------------------------------------------------------------------------------
check "diff_prints_a_compact_patch_that_turns_a_into_b"
run diff "$T/a.json" "$T/b.json"; expect_rc 0; expect_no_err
expect_out_match '^\[\{"op":'
[[ $out == *" "* ]] && fail "patch is not compact: $out"
printf '%s' "$out" >"$T/ab.patch"
run apply "$T/a.json" "$T/ab.patch"; expect_rc 0
printf '%s' "$out" >"$T/ab.result"
run diff "$T/ab.result" "$T/b.json"; expect_rc 0; expect_out "[]"; done_check
check "diff_output_ends_with_one_newline"
"$BIN" diff "$T/a.json" "$T/b.json" | tail -c 2 | od -An -c | grep -q '[]]  *\\n' || fail "no trailing newline"
done_check
check "diff_of_identical_documents_is_an_empty_patch"
run diff "$T/a.json" "$T/a.json"; expect_rc 0; expect_out "[]"; done_check
check "diff_replaces_the_root_when_the_types_differ"
run diff "$T/small.json" "$T/array.json"; expect_rc 0
expect_out '[{"op":"replace","path":"","value":[1,2,3]}]'; done_check
check "diff_of_the_examples_round_trips"
run diff "$EXAMPLES/before.json" "$EXAMPLES/after.json"; expect_rc 0
printf '%s' "$out" >"$T/ex.patch"
run apply "$EXAMPLES/before.json" "$T/ex.patch"; expect_rc 0
printf '%s' "$out" >"$T/ex.result"
run diff "$T/ex.result" "$EXAMPLES/after.json"; expect_out "[]"; done_check
check "diff_reads_the_first_document_from_stdin"
run diff "$T/a.json" "$T/b.json"; want=$out
run_stdin "$T/a.json" diff - "$T/b.json"; expect_rc 0; expect_out "$want"; done_check
check "diff_reads_the_second_document_from_stdin"
run_stdin "$T/b.json" diff "$T/a.json" -; expect_rc 0; expect_out "$want"; done_check
check "diff_refuses_stdin_twice_with_exit_2"
run_stdin "$T/a.json" diff - -; expect_rc 2; expect_err_has 'only one argument may be "-"'; done_check

# ---- apply ------------------------------------------------------------------------------------
check "apply_prints_the_patched_document"
run apply "$T/small.json" "$T/add.json"; expect_rc 0; expect_out '{"a":1,"b":2}'; expect_no_err; done_check
check "apply_reads_the_patch_from_stdin"
run_stdin "$T/add.json" apply "$T/small.json" -; expect_rc 0; expect_out '{"a":1,"b":2}'; done_check
check "apply_reads_the_document_from_stdin"
run_stdin "$T/small.json" apply - "$T/add.json"; expect_rc 0; expect_out '{"a":1,"b":2}'; done_check
check "apply_of_an_empty_patch_prints_the_document_unchanged"
printf '[]' >"$T/empty-patch.json"
run apply "$T/a.json" "$T/empty-patch.json"; expect_rc 0
expect_out '{"a":1,"list":[{"id":1,"v":"x"},{"id":2,"v":"y"}]}'; done_check
check "apply_failure_names_the_operation_and_exits_1"
run apply "$T/small.json" "$T/remove-missing.json"; expect_rc 1; expect_no_out
expect_err_has "op 0 (remove /nope)"; expect_err_has "path does not exist"; done_check
check "apply_failing_test_op_exits_1_and_prints_nothing"
run apply "$T/small.json" "$T/test-fails.json"; expect_rc 1; expect_no_out
expect_err_has "op 1 (test /a)"; expect_err_has "test operation failed"; done_check
check "apply_of_a_patch_that_is_not_an_array_exits_1"
run apply "$T/small.json" "$T/not-array.json"; expect_rc 1; expect_err_has "invalid patch document"; done_check

# ---- input errors -----------------------------------------------------------------------------
check "missing_file_exits_2_with_the_reason"
run diff "$T/missing.json" "$T/a.json"; expect_rc 2; expect_no_out
expect_err_has "cannot open $T/missing.json: No such file or directory"; done_check
check "directory_exits_2_as_unreadable"
run apply "$T" "$T/add.json"; expect_rc 2; expect_err_has "cannot read $T: Is a directory"; done_check
check "invalid_json_exits_2_and_says_where"
run diff "$T/bad.json" "$T/a.json"; expect_rc 2; expect_no_out
expect_err_has "$T/bad.json: invalid JSON at line 3, column"; done_check
check "invalid_json_on_stdin_is_named_stdin"
run_stdin "$T/bad.json" apply - "$T/add.json"; expect_rc 2; expect_err_has "<stdin>: invalid JSON at line 3"; done_check
check "trailing_garbage_is_invalid_json"
run diff "$T/a.json" "$T/trailing.json"; expect_rc 2
expect_err_has "trailing.json: invalid JSON at line 1, column 9 (byte 8)"; done_check
check "empty_input_is_invalid_json"
run diff "$T/empty.json" "$T/a.json"; expect_rc 2; expect_err_has "the input is empty"; done_check
check "truncated_input_reports_the_end"
run diff "$T/truncated.json" "$T/a.json"; expect_rc 2; expect_err_has "invalid JSON at line 1"; done_check
check "nul_byte_is_invalid_json"
run diff "$T/nul.json" "$T/a.json"; expect_rc 2; expect_err_has "NUL byte at byte 7"; done_check
check "an_invalid_patch_file_exits_2_not_1"
run apply "$T/a.json" "$T/bad.json"; expect_rc 2; done_check
if [ -w /dev/full ]; then
  check "write_failure_exits_1"
  "${WRAP[@]}" "$BIN" diff "$T/a.json" "$T/b.json" >/dev/full 2>"$T/err"; rc=$?; err=$(cat "$T/err")
  expect_rc 1; expect_err_has "cannot write output"; done_check
fi

# ---- benchmarks -------------------------------------------------------------------------------
check "bench_diff_prints_median_ops_and_bytes_of_the_patch"
run bench-diff "$T/a.json" "$T/b.json" 20; expect_rc 0; expect_no_err
expect_out_match '^\{"ns_median":[0-9]+,"ops":[0-9]+,"bytes":[0-9]+\}$'
bench=$out
run diff "$T/a.json" "$T/b.json"; patch=$out
[[ $bench == *"\"bytes\":${#patch}}"* ]] || fail "bytes in '$bench' differ from the patch length ${#patch}"
ops=$(grep -o '"op":' <<<"$patch" | wc -l)
[[ $bench == *"\"ops\":$ops,"* ]] || fail "ops in '$bench' differ from $ops"
done_check
check "bench_diff_of_identical_documents_reports_no_ops"
run bench-diff "$T/a.json" "$T/a.json" 3; expect_rc 0; expect_out_match '"ops":0,"bytes":2\}$'; done_check
check "bench_diff_reads_stdin"
run_stdin "$T/a.json" bench-diff - "$T/b.json" 2; expect_rc 0; expect_out_match '^\{"ns_median":'; done_check
check "bench_apply_prints_the_median_of_each_way_to_apply"
run bench-apply "$T/a.json" "$T/ab.patch" 20; expect_rc 0; expect_no_err
expect_out_match '^\{"ns_median":[0-9]+,"ns_median_with_free":[0-9]+,"ns_median_doc_copy":[0-9]+,"ns_median_plain":[0-9]+\}$'
done_check
check "bench_apply_of_a_failing_patch_exits_1"
run bench-apply "$T/small.json" "$T/remove-missing.json" 5; expect_rc 1; expect_no_out
expect_err_has "path does not exist"; done_check
for bad in 0 -3 abc 10x "" 99999999999; do
  check "bench_rejects_iter_'$bad'_with_exit_2"
  run bench-diff "$T/a.json" "$T/b.json" "$bad"; expect_rc 2; expect_err_has "ITER must be an integer"; done_check
done
check "bench_apply_rejects_bad_iter_before_reading_files"
run bench-apply "$T/missing.json" "$T/add.json" 0; expect_rc 2; expect_err_has "ITER must be"; done_check
check "bench_parse_loads_both_documents"
run bench-parse "$T/a.json" "$T/b.json"; expect_rc 0; expect_out_match '^\{"ns_load":[0-9]+\}$'; done_check
check "bench_parse_reports_invalid_json"
run bench-parse "$T/a.json" "$T/bad.json"; expect_rc 2; expect_err_has "invalid JSON"; done_check

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
