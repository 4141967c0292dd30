import { LogOutputChannel, window } from 'vscode';

/** The "trainlint" output channel: the extension's messages and the server's log. */
export const log: LogOutputChannel = window.createOutputChannel('trainlint', { log: true });
