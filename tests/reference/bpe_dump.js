// bpe_dump.js — token ids from OpenAI's GPT-2 encoder (npm gpt-3-encoder@1.1.4) for every line of
// stdin, one line of space-separated ids per input line; bpe_compare.sh diffs them with fedpep's.
'use strict';
const path = require('path');
const { encode } = require(path.resolve(process.argv[2], 'Encoder.js'));
const lines = require('fs').readFileSync(0, 'utf8').split('\n');
if (lines[lines.length - 1] === '')
    lines.pop();
process.stdout.write(lines.map(l => encode(l).join(' ')).join('\n') + '\n');
