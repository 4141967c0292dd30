// Starts `python -m trainlint server` over stdio; all linting happens there.

import { WorkspaceFolder } from 'vscode';
import { LanguageClient, LanguageClientOptions, RevealOutputChannelOn, ServerOptions } from 'vscode-languageclient/node';
import { log } from './log';
import { trainlintModule } from './python';
import { ISettings, NAMESPACE } from './settings';

export async function startServer(
    interpreter: string[],
    settings: ISettings,
    folder?: WorkspaceFolder,
): Promise<LanguageClient | undefined> {
    const args = [...interpreter.slice(1), ...trainlintModule(['server', ...settings.args])];
    log.info(`Server run command: ${[interpreter[0], ...args].join(' ')}`);
    const serverOptions: ServerOptions = {
        command: interpreter[0],
        args,
        // eslint-disable-next-line @typescript-eslint/naming-convention
        options: { cwd: folder?.uri.fsPath, env: { ...process.env, PYTHONUNBUFFERED: '1' } },
    };
    const clientOptions: LanguageClientOptions = {
        // Notebook cells: the server announces notebookDocumentSync (LSP 3.17), so the client
        // sends whole notebooks and their Python cells, and the server checks them as one.
        documentSelector: [
            { scheme: 'file', language: 'python' },
            { scheme: 'untitled', language: 'python' },
            { notebook: '*', language: 'python' },
            { scheme: 'vscode-notebook-cell', language: 'python' },
        ],
        outputChannel: log,
        revealOutputChannelOn: RevealOutputChannelOn.Never,
        // select/ignore/severity/enable reach the running server as didChangeConfiguration
        synchronize: { configurationSection: NAMESPACE },
        initializationOptions: {
            settings: {
                enable: settings.enable,
                select: settings.select,
                ignore: settings.ignore,
                severity: settings.severity,
            },
        },
    };
    const client = new LanguageClient(NAMESPACE, 'trainlint', serverOptions, clientOptions);
    try {
        await client.start();
    } catch (error) {
        log.error(`Server: start failed: ${error}`);
        return undefined;
    }
    return client;
}

export async function stopServer(client: LanguageClient | undefined): Promise<void> {
    if (!client) {
        return;
    }
    try {
        await client.stop();
    } catch (error) {
        log.error(`Server: stop failed: ${error}`);
    }
}
