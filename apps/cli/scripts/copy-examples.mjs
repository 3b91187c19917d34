// The demo's example programs ship with the package: copy them from the repository's examples/.
import { cpSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
cpSync(join(here, '../../../examples'), join(here, '../examples'), { recursive: true });
