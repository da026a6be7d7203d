// bpe_reference.js — reference token ids for tests/test_bpe.c from the npm package
// gpt-3-encoder@1.1.4 (OpenAI's GPT-2 encoder ported to JavaScript, MIT).
//
// Re-run:  d=$(mktemp -d) && (cd $d && npm pack gpt-3-encoder@1.1.4 && tar xzf *.tgz) &&
//          node tests/reference/bpe_reference.js $d/package
// It prints one C initialiser line per sentence: { "text", n, {ids...} }, ready to paste into
// the REFERENCE table of tests/test_bpe.c. Inputs are the SENTENCES below (JSON escapes).
'use strict';
const path = require('path');
const dir = process.argv[2];
if (!dir) {
    console.error('usage: node bpe_reference.js <unpacked gpt-3-encoder package folder>');
    process.exit(2);
}
const { encode, decode } = require(path.resolve(dir, 'Encoder.js'));

// Deterministic pseudo-random lower-case letters (a linear congruential generator).
function lcgLetters(n) {
    let x = 12345, out = '';
    for (let i = 0; i < n; i++) {
        x = (x * 1103515245 + 12345) % 2147483648;
        out += String.fromCharCode(97 + (x >> 16) % 26);
    }
    return out;
}

const SENTENCES = [
    "Hello, world!",
    "It's a great movie, isn't it? They're sure we've seen it; I'm done, you'll see, he'd go.",
    "I paid $1,234.56 for 3 tickets in 2023 (about 99%).",
    "multiple   spaces   here",
    "   leading spaces",
    "trailing spaces   ",
    "line one\nline two\n\nline four\n",
    "tabs\tand\r\nCRLF endings",
    "Caf\u00e9 na\u00efve r\u00e9sum\u00e9 \u2014 d\u00e9j\u00e0 vu",
    "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3068\u4e2d\u6587",
    "emoji \ud83d\ude00\ud83d\udc4d\ud83c\udffd and \u2764\ufe0f!",
    "THE QUICK Brown fox's 'quoted' \"double\" words",
    "a+b=c; x<y>z {json: [1,2]}",
    "don't DON'T 'S 'sup ''s",
    "\u00bd \u00b2 \u216b \u0663\u0664 mixed123abc 4u",
    "hello\u00a0world",
    "-- ... !!! ??? @user #tag",
    "the movie was terrible . It was <mask> .",
    "antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
    "\u00dcn\u00efc\u00f6d\u00e9 \u00dftra\u00dfe \u0130stanbul",
    "\u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627",
    "cafe\u0301 combining",
    " ",
    "  \n  x",
    "a  \n\n b",
    "<|endoftext|> plain text",
    // Long pre-tokens (more than 64 bytes: not cached, many merges).
    lcgLetters(200),
    "9".repeat(40) + "1234567890".repeat(11),
    "ab".repeat(100),
    " ".repeat(120) + "x",
];

// A C string literal of the UTF-8 bytes; "" splits a \x escape from a following hex digit.
const cstr = s => {
    let out = '"', afterHex = false;
    for (const b of Buffer.from(s, 'utf8')) {
        const c = String.fromCharCode(b);
        const named = { 0x0a: '\\n', 0x09: '\\t', 0x0d: '\\r', 0x22: '\\"', 0x5c: '\\\\' }[b];
        if (named) {
            out += named;
            afterHex = false;
        } else if (b >= 0x20 && b < 0x7f) {
            out += (afterHex && /[0-9a-fA-F]/.test(c) ? '""' : '') + c;
            afterHex = false;
        } else {
            out += '\\x' + b.toString(16).padStart(2, '0');
            afterHex = true;
        }
    }
    return out + '"';
};

for (const s of SENTENCES) {
    const ids = encode(s);
    if (decode(ids) !== s)
        console.error('warning: reference does not round-trip: ' + JSON.stringify(s));
    console.log(`    {${cstr(s)}, ${ids.length}, {${ids.join(', ')}}},`);
}
