// The Kestrel huntflow tokenizer, a CodeMirror 6 stream-language mode (no JupyterLab
// imports, so it can be tried outside JupyterLab).

// The keywords of src/syntax/token.rs.
const KEYWORDS = new Set([
  'GET', 'FIND', 'NEW', 'LOAD', 'SAVE', 'TO', 'FROM', 'WHERE', 'START', 'STOP', 'LAST',
  'LIMIT', 'OFFSET', 'BY', 'ATTR', 'SORT', 'GROUP', 'WITH', 'AS', 'JOIN', 'DISP', 'INFO',
  'DESCRIBE', 'EXPLAIN', 'APPLY', 'ON', 'AND', 'OR', 'NOT', 'IN', 'LIKE', 'MATCHES',
  'ISSUBSET', 'ISSUPERSET', 'IS', 'NULL', 'TRUE', 'FALSE', 'ASC', 'DESC', 'TIMESTAMPED',
  'DAY', 'DAYS', 'HOUR', 'HOURS', 'MINUTE', 'MINUTES', 'SECOND', 'SECONDS'
]);

export const kestrelMode = {
  name: 'kestrel',
  token(stream) {
    if (stream.eatSpace()) return null;
    if (stream.peek() === '#') {
      stream.skipToEnd();
      return 'comment';
    }
    if (stream.match(/^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^\s,]*/)) return 'link';
    if (stream.match(/^t?'(?:[^'\\]|\\.)*'?/) || stream.match(/^"(?:[^"\\]|\\.)*"?/)) {
      return 'string';
    }
    if (stream.match(/^\d{4}-\d{2}-\d{2}T[0-9:.]+Z?/)) return 'string';
    if (stream.match(/^\d+(?:\.\d+)?(?:[smhd]\b)?/)) return 'number';
    if (stream.match(/^[A-Za-z_][A-Za-z0-9_]*/)) {
      const word = stream.current().toUpperCase();
      if (KEYWORDS.has(word)) return 'keyword';
      if (stream.peek() === ':') return 'typeName';
      return 'variableName';
    }
    if (stream.match(/^(?:==|!=|<=|>=|=|<|>|\+)/)) return 'operator';
    stream.next();
    return null;
  },
  languageData: { commentTokens: { line: '#' } }
};
