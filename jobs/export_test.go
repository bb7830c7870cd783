package jobs

import "context"

// Wait, Failed and Succeeded expose the breaker's steps to the external tests.
func (b *Breaker) Wait(ctx context.Context, dep string) error { return b.wait(ctx, dep) }

// Failed exposes failed.
func (b *Breaker) Failed(ctx context.Context, dep, holder string) error {
	return b.failed(ctx, dep, holder)
}

// Succeeded exposes succeeded.
func (b *Breaker) Succeeded(ctx context.Context, dep string) { b.succeeded(ctx, dep) }
