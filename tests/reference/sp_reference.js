// sp_reference.js — reference ids for fedpep's SentencePiece unigram tokenizer (tests/data/
// sp_expected.tsv). A line-by-line port of @tensorflow-models/universal-sentence-encoder's
// tokenizer (trie.ts + index.ts: code-point iteration, object-keyed trie, the `best === 0`
// and `>=` quirks, backtrack by the piece's JS string length, merged unknowns), run under node.
// Usage: node sp_reference.js VOCAB.json <lines.txt >expected.tsv  (one "ids<TAB>text" a line)
// Never part of `make test`; regenerate with tests/reference/sp_reference.sh.
'use strict';
const fs = require('fs');

class TrieNode {
    constructor() { this.parent = null; this.children = {}; this.end = false; this.word = [[], 0, 0]; }
}
class Trie {
    constructor() { this.root = new TrieNode(); }
    insert(word, score, index) {
        let node = this.root;
        const symbols = [...word];
        for (let i = 0; i < symbols.length; i++) {
            if (!node.children[symbols[i]]) {
                node.children[symbols[i]] = new TrieNode();
                node.children[symbols[i]].parent = node;
                node.children[symbols[i]].word[0] = node.word[0].concat(symbols[i]);
            }
            node = node.children[symbols[i]];
            if (i === symbols.length - 1) { node.end = true; node.word[1] = score; node.word[2] = index; }
        }
    }
    commonPrefixSearch(ss) {
        const output = [];
        let node = this.root.children[ss[0]];
        for (let i = 0; i < ss.length && node; i++) {
            if (node.end) output.push(node.word);
            node = node.children[ss[i + 1]];
        }
        if (!output.length) output.push([[ss[0]], 0, 0]);
        return output;
    }
}
const separator = '\u2581';
function processInput(str) {
    const normalized = str.normalize('NFKC');
    return normalized.length > 0 ? separator + normalized.replace(/ /g, separator) : normalized;
}
class Tokenizer {
    constructor(vocabulary) {
        this.vocabulary = vocabulary;
        this.trie = new Trie();
        for (let i = 6; i < vocabulary.length; i++) this.trie.insert(vocabulary[i][0], vocabulary[i][1], i);
    }
    encode(input) {
        const nodes = [], words = [], best = [];
        input = processInput(input);
        const symbols = [...input];
        for (let i = 0; i <= symbols.length; i++) { nodes.push({}); words.push(0); best.push(0); }
        for (let i = 0; i < symbols.length; i++) {
            const matches = this.trie.commonPrefixSearch(symbols.slice(i));
            for (let j = 0; j < matches.length; j++) {
                const piece = matches[j];
                const obj = { key: piece[0], score: piece[1], index: piece[2] };
                const endPos = piece[0].length;
                if (nodes[i + endPos][i] == null) nodes[i + endPos][i] = [];
                nodes[i + endPos][i].push(obj);
            }
        }
        for (let endPos = 0; endPos <= symbols.length; endPos++) {
            for (const startPos in nodes[endPos]) {
                const arr = nodes[endPos][startPos];
                for (let j = 0; j < arr.length; j++) {
                    const word = arr[j];
                    const score = word.score + best[endPos - word.key.length];
                    if (best[endPos] === 0 || score >= best[endPos]) {
                        best[endPos] = score;
                        words[endPos] = arr[j].index;
                    }
                }
            }
        }
        const results = [];
        let iter = words.length - 1;
        while (iter > 0) { results.push(words[iter]); iter -= this.vocabulary[words[iter]][0].length; }
        const merged = [];
        let isPreviousUnk = false;
        for (let i = 0; i < results.length; i++) {
            const id = results[i];
            if (!(isPreviousUnk && id === 0)) merged.push(id);
            isPreviousUnk = id === 0;
        }
        return merged.reverse();
    }
}
const tok = new Tokenizer(JSON.parse(fs.readFileSync(process.argv[2], 'utf8')));
const lines = fs.readFileSync(0, 'utf8').split('\n');
if (lines.length && lines[lines.length - 1] === '') lines.pop();
const out = lines.map((l) => tok.encode(l).join(' ') + '\t' + l);
process.stdout.write(out.join('\n') + '\n');
