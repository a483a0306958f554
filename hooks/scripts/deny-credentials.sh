#!/bin/sh
# Denies a job whose prompt contains something that looks like a credential:
# an AWS access key id, or a private key header. Reads the event JSON on stdin;
# exit 2 with the reason on stderr blocks the job (Claude Code hook semantics).
input=$(cat)
if printf '%s' "$input" | grep -Eq 'AKIA[0-9A-Z]{16}'; then
  echo "the prompt contains what looks like an AWS access key id; remove it and use a credential store" >&2
  exit 2
fi
if printf '%s' "$input" | grep -Eq -- '-----BEGIN ([A-Z]+ )?PRIVATE KEY-----'; then
  echo "the prompt contains a private key; never paste keys into prompts" >&2
  exit 2
fi
exit 0
