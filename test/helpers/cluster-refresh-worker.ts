/**
 * A cluster worker stand-in for test/shared-store.test.ts: refresh-token families over a
 * ClusterStore, whose primary is the test process at the other end of real IPC. Told
 * `{ spend: token }`, it renews the sign-in with the token and answers `{ sid, outcome }`.
 */
import { OAuthError } from '../../src/auth/oauth-error.ts';
import { RefreshFamilies, type RefreshLink } from '../../src/auth/smart/refresh-families.ts';
import { ClusterStore } from '../../src/cluster.ts';

const families = new RefreshFamilies(new ClusterStore(1), 10, Date.now, 3_600_000);

process.on('message', (m: unknown) => {
  const token = (m as { spend?: RefreshLink & { sid: string } }).spend;
  if (token === undefined) return;
  void families
    .rotate(token, 3600)
    .then(
      () => 'accepted',
      (err: unknown) => (err instanceof OAuthError ? err.error : 'other'),
    )
    .then((outcome) => process.send?.({ sid: token.sid, outcome }));
});
process.send?.({ ready: true });
