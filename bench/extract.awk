# The mawk extraction trace-parse is measured against: for each call line of strace -f -tt output,
# only pid, syscall, first quoted path, return value and errno, tab-separated.
{
  pid = $1
  rest = substr($0, length($1) + 2)
  sub(/^ *[0-9:.]+ /, "", rest)
  p = index(rest, "(")
  if (p == 0) next
  name = substr(rest, 1, p - 1)
  path = ""
  if (match(rest, /"[^"]*"/)) path = substr(rest, RSTART + 1, RLENGTH - 2)
  ret = ""; err = ""
  if (match(rest, /\) += [^ ]+/)) {
    ret = substr(rest, RSTART, RLENGTH); sub(/^\) += /, "", ret)
    tail = substr(rest, RSTART + RLENGTH)
    if (match(tail, /^ E[A-Z0-9]+/)) err = substr(tail, 2, RLENGTH - 1)
  }
  print pid "\t" name "\t" path "\t" ret "\t" err
}
