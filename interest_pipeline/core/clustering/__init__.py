"""The interest taxonomy and user segments. Vectors are reduced (UMAP, cosine) and clustered with
HDBSCAN at a fine level, then grouped into a coarse level; near-duplicate texts are clustered once,
and above a size the fit runs on a stratified sample that the rest joins by nearest centroid.
Clusters keep stable identities across re-clusterings by matching centroids, are labelled by c-TF-IDF
keywords, scored (silhouette, DBCV, noise share; agreement with known labels where there are any)
and drawn; content that arrives between re-clusterings joins them by nearest centroid."""
