// The extension's settings, read once per (re)start; the server re-reads the rule
// settings itself through workspace/configuration.

import { ConfigurationChangeEvent, WorkspaceFolder, workspace } from 'vscode';

export const NAMESPACE = 'trainlint';

export interface ISettings {
    enable: boolean;
    select: string[];
    ignore: string[];
    severity: Record<string, string>;
    interpreter: string[];
    args: string[];
}

/** Settings that need a new server process; the others reach the running one. */
const RESTART_KEYS = ['interpreter', 'args'];

function resolveVariables(values: string[], folder?: WorkspaceFolder): string[] {
    const home = process.env.HOME || process.env.USERPROFILE || '';
    return values.map((value) =>
        value
            .replace('${userHome}', home)
            .replace('${workspaceFolder}', folder?.uri.fsPath ?? process.cwd())
            .replace('${cwd}', process.cwd()),
    );
}

export function getSettings(folder?: WorkspaceFolder): ISettings {
    const config = workspace.getConfiguration(NAMESPACE, folder?.uri);
    return {
        enable: config.get<boolean>('enable', true),
        select: config.get<string[]>('select', []),
        ignore: config.get<string[]>('ignore', []),
        severity: config.get<Record<string, string>>('severity', {}),
        interpreter: resolveVariables(config.get<string[]>('interpreter', []), folder),
        args: resolveVariables(config.get<string[]>('args', []), folder),
    };
}

export function needsRestart(e: ConfigurationChangeEvent): boolean {
    return RESTART_KEYS.some((key) => e.affectsConfiguration(`${NAMESPACE}.${key}`));
}

export function firstWorkspaceFolder(): WorkspaceFolder | undefined {
    return workspace.workspaceFolders?.[0];
}
