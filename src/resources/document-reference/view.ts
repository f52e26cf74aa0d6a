/**
 * What of a DocumentReference a client asked for: its Σ elements (for `_summary=true`) and
 * whether the attachment's base64 data is wanted at all, so its encoding can be skipped.
 */
import type { ResourceView } from '../../fhir/search/types.ts';
import { keepsElement, type ViewRules } from '../../fhir/view.ts';

// Σ elements of R4 DocumentReference; status and content are mandatory.
export const DOCUMENT_VIEW: ViewRules = {
  summary: new Set([
    'masterIdentifier', 'identifier', 'status', 'docStatus', 'type', 'category', 'subject', 'date', 'author',
    'authenticator', 'custodian', 'relatesTo', 'description', 'securityLabel', 'content', 'context',
  ]),
  mandatory: new Set(['status', 'content']),
};

/** Not for `_summary=true` (attachment data is not a summary element) nor views without `content`. */
export function wantsData(view: ResourceView): boolean {
  return view.summary !== 'true' && keepsElement(view, DOCUMENT_VIEW.summary, 'content');
}
