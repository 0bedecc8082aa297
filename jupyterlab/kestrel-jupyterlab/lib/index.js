// Kestrel huntflow highlighting for JupyterLab 4: a CodeMirror 6 stream language
// registered for the `kestrel` kernel's mimetype (text/x-kestrel) and `.hf` files.
import { IEditorLanguageRegistry } from '@jupyterlab/codemirror';
import { LanguageSupport, StreamLanguage } from '@codemirror/language';

import { kestrelMode } from './mode.js';

const plugin = {
  id: 'kestrel-jupyterlab:language',
  description: 'Kestrel huntflow syntax highlighting',
  autoStart: true,
  requires: [IEditorLanguageRegistry],
  activate: (app, languages) => {
    languages.addLanguage({
      name: 'kestrel',
      displayName: 'Kestrel',
      mime: 'text/x-kestrel',
      extensions: ['hf'],
      load: async () => new LanguageSupport(StreamLanguage.define(kestrelMode))
    });
  }
};

export default plugin;
