import type { z } from 'zod';

type Issue = z.ZodError['issues'][number];

/** Where in the value an issue is: "a.b.0", or "(root)" for the value itself. */
function pathText(issue: Issue): string {
  return issue.path.length ? issue.path.map(String).join('.') : '(root)';
}

/** One issue as text: "a.b: message". */
export function zodIssueText(issue: Issue): string {
  return `${pathText(issue)}: ${issue.message}`;
}

/** Every issue of a zod error on one line, each naming its field: "field a.b: message; field c: message". */
export function zodErrorText(error: z.ZodError): string {
  return error.issues.map((i) => `field ${zodIssueText(i)}`).join('; ');
}
