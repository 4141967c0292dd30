// Wiring only: find Python, check trainlint is there, start the server, restart it
// when the interpreter or its settings change. No lint logic lives in TypeScript.

import { ExtensionContext, commands, env, languages, window, workspace } from 'vscode';
import { LanguageClient } from 'vscode-languageclient/node';
import { log } from './common/log';
import { probeFile } from './common/probe';
import { findInterpreter, onDidChangeInterpreter, trainlintImportable, watchInterpreter } from './common/python';
import { startServer, stopServer } from './common/server';
import { firstWorkspaceFolder, getSettings, needsRestart } from './common/settings';

let client: LanguageClient | undefined;
let interpreter: string[] = ['python3'];
let starting: Promise<void> = Promise.resolve();

async function restart(): Promise<void> {
    await stopServer(client);
    client = undefined;
    const folder = firstWorkspaceFolder();
    const settings = getSettings(folder);
    interpreter = await findInterpreter(settings.interpreter, folder?.uri);
    const check = await trainlintImportable(interpreter);
    if (check.code !== 0) {
        const install = `${interpreter.join(' ')} -m pip install trainlint`;
        log.error(`trainlint is not importable with ${interpreter.join(' ')}:\n${check.stderr}`);
        // not awaited: the message stays until it is dismissed, and the restart queue must
        // not wait for that (a later interpreter change would never restart the server)
        window
            .showErrorMessage(
                `trainlint is not installed for ${interpreter.join(' ')}. Install it with: ${install}` +
                    ' (or pick another interpreter, or set trainlint.interpreter).',
                'Copy Install Command',
                'Show Log',
            )
            .then(async (choice) => {
                if (choice === 'Copy Install Command') {
                    await env.clipboard.writeText(install);
                } else if (choice === 'Show Log') {
                    log.show();
                }
            });
        return;
    }
    log.info(`trainlint ${check.stdout.trim()} found with ${interpreter.join(' ')}`);
    client = await startServer(interpreter, settings, folder);
}

/** Restarts run one after another, never two servers at once. */
function queueRestart(): Promise<void> {
    starting = starting.then(restart, restart);
    return starting;
}

export async function activate(context: ExtensionContext): Promise<void> {
    const probeDiagnostics = languages.createDiagnosticCollection('trainlint-probe');
    context.subscriptions.push(
        log,
        probeDiagnostics,
        commands.registerCommand('trainlint.restart', queueRestart),
        commands.registerCommand('trainlint.showLog', () => log.show()),
        commands.registerCommand('trainlint.probe', async () => {
            const document = window.activeTextEditor?.document;
            if (!document || document.languageId !== 'python') {
                window.showWarningMessage('trainlint probe: open a Python file first.');
                return;
            }
            await probeFile(document, interpreter, workspace.getWorkspaceFolder(document.uri)?.uri.fsPath, probeDiagnostics);
        }),
        workspace.onDidChangeConfiguration((e) => {
            if (needsRestart(e)) {
                queueRestart();
            }
        }),
        onDidChangeInterpreter(() => queueRestart()),
    );
    await watchInterpreter(context.subscriptions);
    await queueRestart();
}

export async function deactivate(): Promise<void> {
    await stopServer(client);
}
