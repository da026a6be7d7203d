"""sp_tricky.py — prints the hand-picked hard inputs of tests/data/sp_expected.tsv, one a line
(null-score colon pieces, non-BMP characters, text NFKC changes, odd spaces, reserved names).
Used by tests/reference/sp_reference.sh; no tab, CR or LF inside a line."""
CASES = [
    '', ' ', '   ', 'a', ':)', '://', '):', ':', '::::', 'smile :) frown :( wink :-) ):',
    'see http://example.com/a:b', 'ratio 3:1 , time 10:30 :',
    '\U0001F600', 'I love it \U0001F600\U0001F600 !', 'a\U0001F600b', '\U0001D400\U0001D401\U0001D402 bold',
    '\U0001F44D\U0001F3FD thumbs', 'caf\u00e9', 'cafe\u0301', '\ufb01ne \ufb03 film', '\u2460\u2461 x\u00b2 \u2122',
    '\uff26\uff55\uff4c\uff4c\uff57\uff49\uff44\uff54\uff48', 'a  b', ' leading', 'trailing ', 'a\u00a0b',
    'x\u3000y', 'a\u2003b', '\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8',
    '\u041f\u0440\u0438\u0432\u0435\u0442 \u043c\u0438\u0440', '\u03b5\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac',
    '\u05e2\u05d1\u05e8\u05d9\u05ea', '\x01\x02', 'a\x7fb', '\ufffd', 'x\ufffd\ufffdy', '\u1100\u1161',
    'stra\u00dfe', '<s> </s> extra_token_id_1 <pad> <mask>', '\u01c4', 'na\u00efve r\u00e9sum\u00e9',
    "it's a \u201cquoted\u201d \u2014 dash \u2026", 'The Movie WAS Wonderful', '12345 67.89',
    '!!!???', '-- -lrb- -rrb-', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', '\u00bd \u2153 \u00b5',
    '\u212b \u2126 \u1e9b\u0323',
]
for c in CASES:
    assert '\n' not in c and '\t' not in c and '\r' not in c
    print(c)
